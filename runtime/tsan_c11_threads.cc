// ThreadSanitizer builds only (CXSTREAM_TSAN, scripts/tsan).
//
// librdkafka 2.0.2 starts its threads and takes its locks with glibc's C11
// threads (thrd_create, mtx_lock, cnd_wait...), which the ThreadSanitizer
// of this machine's compilers (GCC 12, Clang 14) does not intercept: a
// thread librdkafka starts has no sanitizer state and crashes at its first
// allocation, and its locks would be invisible to the race detector. These
// definitions, exported from the executable (-rdynamic), take precedence
// over glibc's for librdkafka and forward to the pthread functions the
// sanitizer does intercept. glibc implements C11 threads on the same
// pthread objects (mtx_t is a pthread_mutex_t, cnd_t a pthread_cond_t,
// once_flag a pthread_once_t, thrd_t a pthread_t), so the casts are its own.
#include <errno.h>
#include <pthread.h>
#include <threads.h>

#include <cstdint>

namespace {

struct Start {
  thrd_start_t func;
  void* arg;
};

void* Trampoline(void* p) {
  const Start s = *static_cast<Start*>(p);
  delete static_cast<Start*>(p);
  return reinterpret_cast<void*>(static_cast<std::intptr_t>(s.func(s.arg)));
}

int Result(int rc) { return rc == 0 ? thrd_success : thrd_error; }

}  // namespace

extern "C" {

int thrd_create(thrd_t* thr, thrd_start_t func, void* arg) {
  auto* s = new Start{func, arg};
  const int rc = pthread_create(thr, nullptr, &Trampoline, s);
  if (rc == 0) return thrd_success;
  delete s;
  return rc == EAGAIN ? thrd_nomem : thrd_error;
}

int thrd_join(thrd_t thr, int* res) {
  void* r = nullptr;
  if (pthread_join(thr, &r) != 0) return thrd_error;
  if (res != nullptr) *res = static_cast<int>(reinterpret_cast<std::intptr_t>(r));
  return thrd_success;
}

thrd_t thrd_current(void) { return pthread_self(); }

int mtx_init(mtx_t* m, int type) {
  pthread_mutexattr_t a;
  pthread_mutexattr_init(&a);
  if (type & mtx_recursive) pthread_mutexattr_settype(&a, PTHREAD_MUTEX_RECURSIVE);
  const int rc = pthread_mutex_init(reinterpret_cast<pthread_mutex_t*>(m), &a);
  pthread_mutexattr_destroy(&a);
  return Result(rc);
}
int mtx_lock(mtx_t* m) { return Result(pthread_mutex_lock(reinterpret_cast<pthread_mutex_t*>(m))); }
int mtx_unlock(mtx_t* m) { return Result(pthread_mutex_unlock(reinterpret_cast<pthread_mutex_t*>(m))); }
void mtx_destroy(mtx_t* m) { pthread_mutex_destroy(reinterpret_cast<pthread_mutex_t*>(m)); }

int cnd_init(cnd_t* c) { return Result(pthread_cond_init(reinterpret_cast<pthread_cond_t*>(c), nullptr)); }
int cnd_signal(cnd_t* c) { return Result(pthread_cond_signal(reinterpret_cast<pthread_cond_t*>(c))); }
int cnd_broadcast(cnd_t* c) { return Result(pthread_cond_broadcast(reinterpret_cast<pthread_cond_t*>(c))); }
int cnd_wait(cnd_t* c, mtx_t* m) {
  return Result(
      pthread_cond_wait(reinterpret_cast<pthread_cond_t*>(c), reinterpret_cast<pthread_mutex_t*>(m)));
}
int cnd_timedwait(cnd_t* __restrict c, mtx_t* __restrict m, const struct timespec* __restrict t) {
  const int rc =
      pthread_cond_timedwait(reinterpret_cast<pthread_cond_t*>(c), reinterpret_cast<pthread_mutex_t*>(m), t);
  return rc == ETIMEDOUT ? thrd_timedout : Result(rc);
}
void cnd_destroy(cnd_t* c) { pthread_cond_destroy(reinterpret_cast<pthread_cond_t*>(c)); }

void call_once(once_flag* flag, void (*func)(void)) {
  pthread_once(reinterpret_cast<pthread_once_t*>(flag), func);
}

}  // extern "C"
