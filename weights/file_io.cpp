#include "weights/file_io.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <vector>

#include "autograd/error.h"

namespace differnet::weights {

std::string read_file_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  DIFFERNET_CHECK(in.good(), path, ": cannot open for reading (", std::strerror(errno), ")");
  in.seekg(0, std::ios::end);
  const std::streamoff size = in.tellg();
  DIFFERNET_CHECK(size >= 0, path, ": cannot determine the file size");
  in.seekg(0, std::ios::beg);
  std::string bytes(static_cast<size_t>(size), '\0');
  in.read(bytes.data(), size);
  DIFFERNET_CHECK(in.gcount() == size, path, ": read ", in.gcount(), " of ", size, " bytes");
  return bytes;
}

void write_file_atomically(const std::string& path, std::string_view bytes) {
  write_file_atomically(path, [&](const PartWriter& write) { write(bytes); });
}

void write_file_atomically(const std::string& path, const std::function<void(const PartWriter&)>& produce) {
  std::string temp = path + ".tmp.XXXXXX";
  std::vector<char> name(temp.begin(), temp.end());
  name.push_back('\0');
  const int fd = ::mkstemp(name.data());
  DIFFERNET_CHECK(fd >= 0, path, ": cannot create a temporary file beside it (", std::strerror(errno), ")");
  temp = name.data();
  uint64_t written = 0, wanted = 0;
  int write_errno = 0;
  const PartWriter write = [&](std::string_view part) {
    wanted += part.size();
    if (write_errno) return;  // the first failure is reported below
    size_t done = 0;
    while (done < part.size()) {
      const ssize_t n = ::write(fd, part.data() + done, part.size() - done);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        write_errno = n < 0 ? errno : ENOSPC;
        return;
      }
      done += static_cast<size_t>(n);
      written += static_cast<uint64_t>(n);
    }
  };
  try {
    produce(write);
  } catch (...) {  // no half-written file stays behind
    ::close(fd);
    ::unlink(temp.c_str());
    throw;
  }
  const bool synced = write_errno == 0 && ::fsync(fd) == 0;
  if (!synced && write_errno == 0) write_errno = errno;
  const bool closed = ::close(fd) == 0;
  if (!synced || !closed) {
    ::unlink(temp.c_str());
    throw Error(detail::concat(path, ": writing failed after ", written, " of ", wanted, " bytes (",
                               std::strerror(write_errno), ")"));
  }
  ::chmod(temp.c_str(), 0644);  // mkstemp creates 0600; weights files are ordinary readable files
  if (::rename(temp.c_str(), path.c_str()) != 0) {
    const int rename_errno = errno;
    ::unlink(temp.c_str());
    throw Error(detail::concat(path, ": cannot rename the temporary file into place (", std::strerror(rename_errno), ")"));
  }
}

}  // namespace differnet::weights
