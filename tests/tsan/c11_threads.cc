// Only in the ThreadSanitizer build (make test-tsan): C11 thrd_create,
// thrd_join and thrd_detach, defined through their pthread functions.
//
// librdkafka starts its threads with C11 thrd_create. glibc implements it
// without going through the pthread_create symbol that ThreadSanitizer
// intercepts (LLVM 14's runtime has no thrd_create interceptor), so TSan
// does not know those threads and crashes at their first allocation. A
// definition in the executable takes precedence over glibc's for the calls
// librdkafka makes, and routes them through the intercepted pthread_create:
// TSan then sees librdkafka's threads, and the Kafka code runs under it.
// Joining and detaching go the same way, or TSan takes the threads for leaked.
#include <pthread.h>
#include <threads.h>

#include <cerrno>
#include <cstdint>
#include <new>

namespace {

struct Start {
  thrd_start_t func;
  void* arg;
};

void* Trampoline(void* p) {
  Start start = *static_cast<Start*>(p);
  delete static_cast<Start*>(p);
  // thrd_join reads the int back from the pointer, as glibc's does.
  return reinterpret_cast<void*>(static_cast<std::intptr_t>(start.func(start.arg)));
}

}  // namespace

extern "C" int thrd_create(thrd_t* thr, thrd_start_t func, void* arg) {
  auto* start = new (std::nothrow) Start{func, arg};
  if (start == nullptr) return thrd_nomem;
  pthread_t id;
  const int err = pthread_create(&id, nullptr, &Trampoline, start);
  if (err != 0) {
    delete start;
    return err == EAGAIN || err == ENOMEM ? thrd_nomem : thrd_error;
  }
  *thr = id;
  return thrd_success;
}

extern "C" int thrd_join(thrd_t thr, int* res) {
  void* result = nullptr;
  if (pthread_join(thr, &result) != 0) return thrd_error;
  if (res != nullptr) *res = static_cast<int>(reinterpret_cast<std::intptr_t>(result));
  return thrd_success;
}

extern "C" int thrd_detach(thrd_t thr) { return pthread_detach(thr) == 0 ? thrd_success : thrd_error; }
