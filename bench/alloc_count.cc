// alloc_count: an LD_PRELOAD library that counts heap allocations (malloc,
// calloc, realloc and the aligned ones; operator new goes through malloc)
// and writes the count to the file named by CX_ALLOC_COUNT_OUT when the
// process exits. bench/replay runs `cxstream replay` under it.
#include <stdio.h>
#include <stdlib.h>

#include <atomic>

extern "C" {
void* __libc_malloc(size_t);
void* __libc_calloc(size_t, size_t);
void* __libc_realloc(void*, size_t);
void* __libc_memalign(size_t, size_t);
}

namespace {
std::atomic<unsigned long> allocations{0};
void Count() { allocations.fetch_add(1, std::memory_order_relaxed); }

struct Report {
  ~Report() {
    const char* path = getenv("CX_ALLOC_COUNT_OUT");
    if (path == nullptr) return;
    FILE* f = fopen(path, "w");
    if (f == nullptr) return;
    fprintf(f, "%lu\n", allocations.load());
    fclose(f);
  }
} report;
}  // namespace

extern "C" {
void* malloc(size_t n) noexcept {
  Count();
  return __libc_malloc(n);
}
void* calloc(size_t n, size_t size) noexcept {
  Count();
  return __libc_calloc(n, size);
}
void* realloc(void* p, size_t n) noexcept {
  Count();
  return __libc_realloc(p, n);
}
void* memalign(size_t align, size_t n) noexcept {
  Count();
  return __libc_memalign(align, n);
}
int posix_memalign(void** out, size_t align, size_t n) noexcept {
  Count();
  void* p = __libc_memalign(align, n);
  if (p == nullptr) return 12;  // ENOMEM
  *out = p;
  return 0;
}
void* aligned_alloc(size_t align, size_t n) noexcept {
  Count();
  return __libc_memalign(align, n);
}
}
