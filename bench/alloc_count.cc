// alloc_count: an LD_PRELOAD library that counts heap allocations (malloc,
// calloc, realloc, the aligned ones and every operator new) and writes the
// count to the file named by CX_ALLOC_COUNT_OUT when the process exits.
// bench/replay runs `cxstream replay` under it.
//
// Whatever allocator the program links (mimalloc, see the top-level
// CMakeLists.txt), the preloaded process allocates from glibc's: this
// library defines the whole malloc family and operator new and delete, so
// that a pointer is always freed by the allocator that made it, and the
// count means the same with any allocator.
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>

#include <atomic>
#include <new>

extern "C" {
void* __libc_malloc(size_t);
void* __libc_calloc(size_t, size_t);
void* __libc_realloc(void*, size_t);
void* __libc_memalign(size_t, size_t);
void __libc_free(void*);
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

void* Allocate(size_t n) {
  Count();
  return __libc_malloc(n);
}
void* AllocateAligned(size_t align, size_t n) {
  Count();
  return __libc_memalign(align, n);
}
void* New(size_t n) {
  void* p = Allocate(n == 0 ? 1 : n);
  if (p == nullptr) throw std::bad_alloc();
  return p;
}
void* NewAligned(size_t n, std::align_val_t align) {
  void* p = AllocateAligned(static_cast<size_t>(align), n == 0 ? 1 : n);
  if (p == nullptr) throw std::bad_alloc();
  return p;
}
}  // namespace

extern "C" {
void* malloc(size_t n) noexcept { return Allocate(n); }
void* calloc(size_t n, size_t size) noexcept {
  Count();
  return __libc_calloc(n, size);
}
void* realloc(void* p, size_t n) noexcept {
  Count();
  return __libc_realloc(p, n);
}
void* reallocarray(void* p, size_t n, size_t size) noexcept {
  if (size != 0 && n > static_cast<size_t>(-1) / size) return nullptr;
  return realloc(p, n * size);
}
void free(void* p) noexcept { __libc_free(p); }
void cfree(void* p) noexcept { __libc_free(p); }
void* memalign(size_t align, size_t n) noexcept { return AllocateAligned(align, n); }
void* aligned_alloc(size_t align, size_t n) noexcept { return AllocateAligned(align, n); }
void* valloc(size_t n) noexcept { return AllocateAligned(4096, n); }
void* pvalloc(size_t n) noexcept { return AllocateAligned(4096, (n + 4095) & ~static_cast<size_t>(4095)); }
int posix_memalign(void** out, size_t align, size_t n) noexcept {
  void* p = AllocateAligned(align, n);
  if (p == nullptr) return 12;  // ENOMEM
  *out = p;
  return 0;
}
// glibc's own, found once (RocksDB asks it of the blocks it caches).
size_t malloc_usable_size(void* p) noexcept {
  using Fn = size_t (*)(void*);
  static Fn glibc = [] {
    void* libc = dlopen("libc.so.6", RTLD_NOW | RTLD_NOLOAD);
    return libc ? reinterpret_cast<Fn>(dlsym(libc, "malloc_usable_size")) : nullptr;
  }();
  return glibc ? glibc(p) : 0;
}
}

void* operator new(size_t n) { return New(n); }
void* operator new[](size_t n) { return New(n); }
void* operator new(size_t n, const std::nothrow_t&) noexcept { return Allocate(n == 0 ? 1 : n); }
void* operator new[](size_t n, const std::nothrow_t&) noexcept { return Allocate(n == 0 ? 1 : n); }
void* operator new(size_t n, std::align_val_t a) { return NewAligned(n, a); }
void* operator new[](size_t n, std::align_val_t a) { return NewAligned(n, a); }
void* operator new(size_t n, std::align_val_t a, const std::nothrow_t&) noexcept {
  return AllocateAligned(static_cast<size_t>(a), n == 0 ? 1 : n);
}
void* operator new[](size_t n, std::align_val_t a, const std::nothrow_t&) noexcept {
  return AllocateAligned(static_cast<size_t>(a), n == 0 ? 1 : n);
}
void operator delete(void* p) noexcept { __libc_free(p); }
void operator delete[](void* p) noexcept { __libc_free(p); }
void operator delete(void* p, size_t) noexcept { __libc_free(p); }
void operator delete[](void* p, size_t) noexcept { __libc_free(p); }
void operator delete(void* p, std::align_val_t) noexcept { __libc_free(p); }
void operator delete[](void* p, std::align_val_t) noexcept { __libc_free(p); }
void operator delete(void* p, size_t, std::align_val_t) noexcept { __libc_free(p); }
void operator delete[](void* p, size_t, std::align_val_t) noexcept { __libc_free(p); }
void operator delete(void* p, const std::nothrow_t&) noexcept { __libc_free(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { __libc_free(p); }
