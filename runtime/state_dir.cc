#include "runtime/state_dir.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace cx::runtime {

Result<int> LockStateDir(const std::string& dir) {
  // flock: released by the kernel when the process dies, kill -9 included,
  // so a restarted pod never finds a stale lock.
  const std::string path = dir + "/cxstream.lock";
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0)
    return Status::Fatal("state.dir " + dir + ": cannot open " + path + ": " + std::strerror(errno));
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    char holder[32] = {};
    const ssize_t n = ::pread(fd, holder, sizeof holder - 1, 0);
    std::string pid = n > 0 ? std::string(holder, static_cast<std::size_t>(n)) : "unknown";
    while (!pid.empty() && (pid.back() == '\n' || pid.back() == ' ')) pid.pop_back();
    ::close(fd);
    return Status::Fatal("state.dir " + dir + " is in use by another cxstream process (pid " + pid +
                         "); each worker needs a state directory of its own");
  }
  const std::string me = std::to_string(::getpid()) + "\n";
  if (::ftruncate(fd, 0) != 0 || ::pwrite(fd, me.data(), me.size(), 0) < 0) {
    // The lock is held; the pid is only a hint for whoever is refused.
  }
  return fd;
}

Status ProbeStateDir(const std::string& dir, std::size_t member) {
  // One file per processing thread: their commit threads probe at once.
  const std::string path = dir + "/.cxstream-probe-" + std::to_string(member);
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  bool ok = fd >= 0;
  int err = ok ? 0 : errno;
  if (ok && (::write(fd, "probe\n", 6) != 6 || ::fdatasync(fd) != 0)) {
    ok = false;
    err = errno;
  }
  if (fd >= 0 && ::close(fd) != 0 && ok) {
    ok = false;
    err = errno;
  }
  if (ok && ::unlink(path.c_str()) != 0) {
    ok = false;
    err = errno;
  }
  if (ok) return Status::Ok();
  return Status::Fatal("state.dir " + dir + " no longer accepts writes: " + std::strerror(err));
}

}  // namespace cx::runtime
