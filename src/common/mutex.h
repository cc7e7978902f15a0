// Mutexes that Clang's thread-safety analysis understands, so that "this
// member is only touched under that lock" is checked by the compiler
// (-Wthread-safety in the clang builds and in `make tidy`) rather than stated
// in a comment. libstdc++'s std::mutex carries no annotations, hence these
// thin wrappers. They cost nothing over the std types they hold.
//
//   Mutex mu_;
//   int count_ IOMT_GUARDED_BY(mu_) = 0;
//   void Add() IOMT_EXCLUDES(mu_) { MutexLock lock(mu_); ++count_; }
//   void AddLocked() IOMT_REQUIRES(mu_) { ++count_; }
//
// A condition wait is a loop in the locked scope (`while (!ready_)
// cv_.Wait(lock);`) rather than a predicate lambda: the analysis sees the
// loop's reads under the lock, and cannot see into a lambda.
#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <shared_mutex>

#if defined(__clang__)
#define IOMT_THREAD_ANNOTATION(x) __attribute__((x))
#else
#define IOMT_THREAD_ANNOTATION(x)
#endif

#define IOMT_CAPABILITY(x) IOMT_THREAD_ANNOTATION(capability(x))
#define IOMT_SCOPED_CAPABILITY IOMT_THREAD_ANNOTATION(scoped_lockable)
#define IOMT_GUARDED_BY(x) IOMT_THREAD_ANNOTATION(guarded_by(x))
#define IOMT_PT_GUARDED_BY(x) IOMT_THREAD_ANNOTATION(pt_guarded_by(x))
#define IOMT_ACQUIRED_BEFORE(...) IOMT_THREAD_ANNOTATION(acquired_before(__VA_ARGS__))
#define IOMT_ACQUIRED_AFTER(...) IOMT_THREAD_ANNOTATION(acquired_after(__VA_ARGS__))
#define IOMT_REQUIRES(...) IOMT_THREAD_ANNOTATION(requires_capability(__VA_ARGS__))
#define IOMT_REQUIRES_SHARED(...) IOMT_THREAD_ANNOTATION(requires_shared_capability(__VA_ARGS__))
#define IOMT_ACQUIRE(...) IOMT_THREAD_ANNOTATION(acquire_capability(__VA_ARGS__))
#define IOMT_ACQUIRE_SHARED(...) IOMT_THREAD_ANNOTATION(acquire_shared_capability(__VA_ARGS__))
#define IOMT_RELEASE(...) IOMT_THREAD_ANNOTATION(release_capability(__VA_ARGS__))
#define IOMT_RELEASE_SHARED(...) IOMT_THREAD_ANNOTATION(release_shared_capability(__VA_ARGS__))
#define IOMT_RELEASE_GENERIC(...) IOMT_THREAD_ANNOTATION(release_generic_capability(__VA_ARGS__))
#define IOMT_EXCLUDES(...) IOMT_THREAD_ANNOTATION(locks_excluded(__VA_ARGS__))
#define IOMT_ASSERT_CAPABILITY(x) IOMT_THREAD_ANNOTATION(assert_capability(x))
#define IOMT_RETURN_CAPABILITY(x) IOMT_THREAD_ANNOTATION(lock_returned(x))
#define IOMT_NO_THREAD_SAFETY_ANALYSIS IOMT_THREAD_ANNOTATION(no_thread_safety_analysis)

namespace iomt {

class CondVar;
class MutexLock;

class IOMT_CAPABILITY("mutex") Mutex {
 public:
  Mutex() = default;
  Mutex(const Mutex&) = delete;
  Mutex& operator=(const Mutex&) = delete;

  void Lock() IOMT_ACQUIRE() { mu_.lock(); }
  void Unlock() IOMT_RELEASE() { mu_.unlock(); }
  // Tells the analysis that the caller holds it (where it cannot follow).
  void AssertHeld() const IOMT_ASSERT_CAPABILITY(this) {}

 private:
  friend class MutexLock;
  std::mutex mu_;
};

// Holds a Mutex for its scope (std::lock_guard), and may let go and take it
// again inside it (std::unique_lock), e.g. around a slow call.
class IOMT_SCOPED_CAPABILITY MutexLock {
 public:
  explicit MutexLock(Mutex& mu) IOMT_ACQUIRE(mu) : lock_(mu.mu_) {}
  ~MutexLock() IOMT_RELEASE() {}
  MutexLock(const MutexLock&) = delete;
  MutexLock& operator=(const MutexLock&) = delete;

  void Unlock() IOMT_RELEASE() { lock_.unlock(); }
  void Lock() IOMT_ACQUIRE() { lock_.lock(); }

 private:
  friend class CondVar;
  std::unique_lock<std::mutex> lock_;
};

// A condition variable waited on under a MutexLock.
class CondVar {
 public:
  void Wait(MutexLock& lock) { cv_.wait(lock.lock_); }
  // False when the time ran out (the caller checks its condition either way).
  template <class Rep, class Period>
  bool WaitFor(MutexLock& lock, std::chrono::duration<Rep, Period> timeout) {
    return cv_.wait_for(lock.lock_, timeout) == std::cv_status::no_timeout;
  }
  template <class Clock, class Duration>
  bool WaitUntil(MutexLock& lock, std::chrono::time_point<Clock, Duration> deadline) {
    return cv_.wait_until(lock.lock_, deadline) == std::cv_status::no_timeout;
  }
  void NotifyOne() { cv_.notify_one(); }
  void NotifyAll() { cv_.notify_all(); }

 private:
  std::condition_variable cv_;
};

// A readers-writer mutex (std::shared_mutex).
class IOMT_CAPABILITY("shared mutex") SharedMutex {
 public:
  SharedMutex() = default;
  SharedMutex(const SharedMutex&) = delete;
  SharedMutex& operator=(const SharedMutex&) = delete;

  void Lock() IOMT_ACQUIRE() { mu_.lock(); }
  void Unlock() IOMT_RELEASE() { mu_.unlock(); }
  void LockShared() IOMT_ACQUIRE_SHARED() { mu_.lock_shared(); }
  void UnlockShared() IOMT_RELEASE_SHARED() { mu_.unlock_shared(); }

 private:
  std::shared_mutex mu_;
};

// Holds a SharedMutex exclusively for its scope.
class IOMT_SCOPED_CAPABILITY WriterLock {
 public:
  explicit WriterLock(SharedMutex& mu) IOMT_ACQUIRE(mu) : mu_(mu) { mu_.Lock(); }
  ~WriterLock() IOMT_RELEASE() { mu_.Unlock(); }
  WriterLock(const WriterLock&) = delete;
  WriterLock& operator=(const WriterLock&) = delete;

 private:
  SharedMutex& mu_;
};

// Holds a SharedMutex shared for its scope.
class IOMT_SCOPED_CAPABILITY ReaderLock {
 public:
  explicit ReaderLock(SharedMutex& mu) IOMT_ACQUIRE_SHARED(mu) : mu_(mu) { mu_.LockShared(); }
  ~ReaderLock() IOMT_RELEASE() { mu_.UnlockShared(); }
  ReaderLock(const ReaderLock&) = delete;
  ReaderLock& operator=(const ReaderLock&) = delete;

 private:
  SharedMutex& mu_;
};

}  // namespace iomt
