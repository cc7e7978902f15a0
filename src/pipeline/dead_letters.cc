#include "pipeline/dead_letters.h"

#include <fcntl.h>
#include <unistd.h>

#include <deque>
#include <fstream>
#include <iterator>

namespace iomt::pipeline {

DeadLetterFile::~DeadLetterFile() {
  if (file_ != nullptr) std::fclose(file_);
}

Status DeadLetterFile::Write(std::string_view record_json) {
  if (file_ == nullptr) {
    // Dead letters are whole device messages (patient data): private to
    // the service's user whatever the umask.
    const int fd = ::open(path_.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) return IoError("cannot write the dead-letter file " + path_);
    file_ = ::fdopen(fd, "a");
    if (file_ == nullptr) {
      ::close(fd);
      return IoError("cannot write the dead-letter file " + path_);
    }
  }
  if (std::fwrite(record_json.data(), 1, record_json.size(), file_) != record_json.size() ||
      std::fputc('\n', file_) == EOF) {
    return IoError("cannot write the dead-letter file " + path_);
  }
  dirty_ = true;
  return Status::Ok();
}

Status DeadLetterFile::Sync() {
  if (file_ == nullptr || !dirty_) return Status::Ok();
  if (std::fflush(file_) != 0 || ::fsync(fileno(file_)) != 0)
    return IoError("cannot sync the dead-letter file " + path_);
  dirty_ = false;
  return Status::Ok();
}

Status DeadLetterFile::Close() {
  IOMT_RETURN_IF_ERROR(Sync());
  if (file_ != nullptr) std::fclose(file_);
  file_ = nullptr;
  return Status::Ok();
}

Status SharedDeadLetterFile::Write(std::string_view record_json) {
  MutexLock lock(mu_);
  return file_.Write(record_json);
}

Status SharedDeadLetterFile::Sync() {
  MutexLock lock(mu_);
  return file_.Sync();
}

Status SharedDeadLetterFile::MoveTo(const std::string& to) {
  MutexLock lock(mu_);
  IOMT_RETURN_IF_ERROR(file_.Close());
  const std::string& path = file_.path();
  if (::access(path.c_str(), F_OK) != 0) return NotFound("no dead letters");
  if (std::rename(path.c_str(), to.c_str()) != 0) return IoError("cannot move " + path + " to " + to);
  return Status::Ok();
}

Status SharedDeadLetterFile::ReadLast(std::size_t limit, std::vector<std::string>* records, std::int64_t* total) {
  MutexLock lock(mu_);
  IOMT_RETURN_IF_ERROR(file_.Sync());  // what the workers wrote is in the file
  std::ifstream in(file_.path());
  std::deque<std::string> last;
  *total = 0;
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    ++*total;
    last.push_back(std::move(line));
    if (last.size() > limit) last.pop_front();
  }
  records->assign(std::make_move_iterator(last.begin()), std::make_move_iterator(last.end()));
  return Status::Ok();
}

}  // namespace iomt::pipeline
