/* files.c - atomic files, mkdir -p, errno messages (files.h). */
#include "core/base/files.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/base/errmsg.h"

int y5_fail_errno(char *err, size_t errlen, const char *path, const char *what, int e) {
    if (!err || !errlen) return -1;
    if (e) {
        char buf[256];
        snprintf(buf, sizeof buf, "%s", strerror(e));
        if (buf[0] && isupper((unsigned char)buf[0]) && !(buf[1] && isupper((unsigned char)buf[1])))
            buf[0] = (char)tolower((unsigned char)buf[0]);
        if (what)
            y5_fail_path(err, errlen, path, "%s (%s)", what, buf);
        else
            y5_fail_path(err, errlen, path, "%s", buf);
    } else {
        y5_fail_path(err, errlen, path, "%s", what ? what : "error");
    }
    return -1;
}

static atomic_uint tmp_counter;

int y5_atomic_open(y5_atomic_file *a, const char *path, char *err, size_t errlen) {
    memset(a, 0, sizeof *a);
    if (!path || !*path) { y5_fail_errno(err, errlen, "(null)", "empty output path", 0); return -1; }
    size_t pl = strlen(path);
    if (pl >= sizeof a->path) { y5_fail_errno(err, errlen, path, "path too long", 0); return -1; }
    memcpy(a->path, path, pl + 1);
    unsigned k = atomic_fetch_add(&tmp_counter, 1u);
    snprintf(a->tmp, sizeof a->tmp, "%s.tmp.%ld.%u", path, (long)getpid(), k);
    int fd = open(a->tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (fd < 0) {
        y5_fail_errno(err, errlen, path, "cannot create", errno);
        a->tmp[0] = 0;
        return -1;
    }
    a->f = fdopen(fd, "wb");
    if (!a->f) {
        int e = errno;
        close(fd);
        unlink(a->tmp);
        a->tmp[0] = 0;
        y5_fail_errno(err, errlen, path, "cannot open", e);
        return -1;
    }
    return 0;
}

int y5_atomic_commit(y5_atomic_file *a, char *err, size_t errlen) {
    if (!a->f) { y5_fail_errno(err, errlen, a->path[0] ? a->path : "(null)", "file not open", 0); return -1; }
    int e = 0;
    const char *what = NULL;
    if (fflush(a->f) != 0 || ferror(a->f)) { e = errno ? errno : EIO; what = "write failed"; }
    /* EINVAL: a file (system) that cannot be synced; its data is written all the same */
    if (!e && fsync(fileno(a->f)) != 0 && errno != EINVAL) { e = errno; what = "fsync failed"; }
    if (fclose(a->f) != 0 && !e) { e = errno ? errno : EIO; what = "close failed"; }
    a->f = NULL;
    if (!e && rename(a->tmp, a->path) != 0) { e = errno; what = "cannot rename the temp file over it"; }
    if (e) {
        unlink(a->tmp);
        a->tmp[0] = 0;
        y5_fail_errno(err, errlen, a->path, what, e);
        return -1;
    }
    a->tmp[0] = 0;
    return 0;
}

void y5_atomic_abort(y5_atomic_file *a) {
    if (a->f) {
        fclose(a->f);
        a->f = NULL;
    }
    if (a->tmp[0]) {
        unlink(a->tmp);
        a->tmp[0] = 0;
    }
}

int y5_write_file_atomic(const char *path, const void *data, size_t len, char *err, size_t errlen) {
    y5_atomic_file a;
    if (y5_atomic_open(&a, path, err, errlen)) return -1;
    if (len && fwrite(data, 1, len, a.f) != len) {
        int e = errno ? errno : EIO;
        y5_atomic_abort(&a);
        y5_fail_errno(err, errlen, path, "write failed", e);
        return -1;
    }
    return y5_atomic_commit(&a, err, errlen);
}


int y5_mkdirs(const char *path, unsigned mode) {
    char buf[4096];
    if (!path || !*path || snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf) {
        errno = ENAMETOOLONG;
        return -1;
    }
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/') continue;
        *p = 0;
        if (mkdir(buf, (mode_t)mode) && errno != EEXIST) return -1;
        *p = '/';
    }
    if (mkdir(buf, (mode_t)mode) && errno != EEXIST) return -1;
    struct stat st;
    if (stat(buf, &st) != 0) return -1;
    if (!S_ISDIR(st.st_mode)) {
        errno = ENOTDIR;
        return -1;
    }
    return 0;
}

int y5_mkdirs_parent(const char *path, unsigned mode) {
    char d[4096];
    if (!path || snprintf(d, sizeof d, "%s", path) >= (int)sizeof d) {
        errno = ENAMETOOLONG;
        return -1;
    }
    char *slash = strrchr(d, '/');
    if (!slash || slash == d) return 0;
    *slash = 0;
    return y5_mkdirs(d, mode);
}
