/* An LD_PRELOAD library for the fault tests: makes the files under one
 * directory fail or hang on demand, as a disk that goes read-only or stalls
 * would, without root (no remount) and without touching other files.
 *
 *   CX_IO_FAULT_DIR      the directory (a prefix of the files' real paths)
 *   CX_IO_FAULT_TRIGGER  a file; while it holds "erofs", writes, syncs and
 *                        opens for writing under the directory fail with
 *                        EROFS; while it holds "stall", they hang.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

static int mode(void) { /* 0 none, 1 erofs, 2 stall */
  const char* trigger = getenv("CX_IO_FAULT_TRIGGER");
  if (!trigger) return 0;
  static ssize_t (*real_read)(int, void*, size_t);
  static int (*real_open)(const char*, int, ...);
  if (!real_read) real_read = (ssize_t(*)(int, void*, size_t))dlsym(RTLD_NEXT, "read");
  if (!real_open) real_open = (int (*)(const char*, int, ...))dlsym(RTLD_NEXT, "open");
  int fd = real_open(trigger, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  char buf[8] = {0};
  ssize_t n = real_read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n >= 5 && strncmp(buf, "erofs", 5) == 0) return 1;
  if (n >= 5 && strncmp(buf, "stall", 5) == 0) return 2;
  return 0;
}

static int under(const char* path) {
  const char* dir = getenv("CX_IO_FAULT_DIR");
  return dir && path && strncmp(path, dir, strlen(dir)) == 0;
}

static int fd_under(int fd) {
  char link[64], path[4096];
  snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
  ssize_t n = readlink(link, path, sizeof path - 1);
  if (n <= 0) return 0;
  path[n] = 0;
  return under(path);
}

/* -1 with errno set: fail; 0: go on. */
static int fault(int applies) {
  if (!applies) return 0;
  switch (mode()) {
    case 1:
      errno = EROFS;
      return -1;
    case 2:
      for (;;) sleep(3600);
    default:
      return 0;
  }
}

#define REAL(name, ret, args)    \
  static ret(*real_##name) args; \
  if (!real_##name) *(void**)(&real_##name) = dlsym(RTLD_NEXT, #name)

static int opens_for_writing(int flags) { return (flags & (O_WRONLY | O_RDWR | O_CREAT | O_TRUNC)) != 0; }

int open(const char* path, int flags, ...) {
  REAL(open, int, (const char*, int, ...));
  mode_t m = 0;
  if (flags & O_CREAT) {
    va_list ap;
    va_start(ap, flags);
    m = va_arg(ap, mode_t);
    va_end(ap);
  }
  if (opens_for_writing(flags) && fault(under(path))) return -1;
  return real_open(path, flags, m);
}
int open64(const char* path, int flags, ...) {
  REAL(open64, int, (const char*, int, ...));
  mode_t m = 0;
  if (flags & O_CREAT) {
    va_list ap;
    va_start(ap, flags);
    m = va_arg(ap, mode_t);
    va_end(ap);
  }
  if (opens_for_writing(flags) && fault(under(path))) return -1;
  return real_open64(path, flags, m);
}
int openat(int dirfd, const char* path, int flags, ...) {
  REAL(openat, int, (int, const char*, int, ...));
  mode_t m = 0;
  if (flags & O_CREAT) {
    va_list ap;
    va_start(ap, flags);
    m = va_arg(ap, mode_t);
    va_end(ap);
  }
  if (opens_for_writing(flags) && fault(under(path))) return -1;
  return real_openat(dirfd, path, flags, m);
}
ssize_t write(int fd, const void* buf, size_t n) {
  REAL(write, ssize_t, (int, const void*, size_t));
  if (fd > 2 && fault(fd_under(fd))) return -1;
  return real_write(fd, buf, n);
}
ssize_t pwrite(int fd, const void* buf, size_t n, off_t off) {
  REAL(pwrite, ssize_t, (int, const void*, size_t, off_t));
  if (fault(fd_under(fd))) return -1;
  return real_pwrite(fd, buf, n, off);
}
ssize_t pwrite64(int fd, const void* buf, size_t n, off_t off) {
  REAL(pwrite64, ssize_t, (int, const void*, size_t, off_t));
  if (fault(fd_under(fd))) return -1;
  return real_pwrite64(fd, buf, n, off);
}
ssize_t writev(int fd, const struct iovec* iov, int cnt) {
  REAL(writev, ssize_t, (int, const struct iovec*, int));
  if (fd > 2 && fault(fd_under(fd))) return -1;
  return real_writev(fd, iov, cnt);
}
int fsync(int fd) {
  REAL(fsync, int, (int));
  if (fault(fd_under(fd))) return -1;
  return real_fsync(fd);
}
int fdatasync(int fd) {
  REAL(fdatasync, int, (int));
  if (fault(fd_under(fd))) return -1;
  return real_fdatasync(fd);
}
