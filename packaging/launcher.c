/*
 * docker-credential-ecr launcher: the entry point of both shipped forms.
 *
 * The program proper is a PyInstaller one-folder bundle (the bootloader renamed
 * to docker-credential-ecr.bin, its _internal/ directory) plus, in
 * _internal/glibc/, the C library and dynamic loader it was built against.
 * This small static program runs that bundle through its own loader, so it
 * needs no Python and no particular C library on the host, and it tells
 * PyInstaller's bootloader not to re-execute itself, saving a second start.
 *
 * Folder form: this launcher sits in the bundle's top directory as
 * docker-credential-ecr and runs the bundle beside it.
 *
 * Single-file form: this launcher is followed by the bundle, compressed.  On
 * first use it is unpacked, once per build, into a private runtime directory
 * that allows executing programs; later runs check that copy and run it.
 *
 * It runs as root on every pull, so what it executes, unpacks into and deletes
 * is held to the trusted-path rule (trust.c): every directory on the way is
 * owned by root or the user and writable by no one else.  Within its runtime
 * directory (<base>/<id>/ per build):
 *   - a build is unpacked into a temporary directory, flushed to disk, given a
 *     manifest (every file with its size) written last, and renamed into place;
 *     a copy whose manifest does not match is set aside and unpacked again;
 *   - a process running a build holds a shared lock on <id>.lock for its whole
 *     life; a build is deleted only under an exclusive lock, and only when it
 *     has not been used for a day, so upgrades never pull files from under a
 *     running process and two builds used in turn each unpack once;
 *   - a temporary directory is locked by its unpacker; one whose lock is free
 *     belongs to a dead unpacker and is removed.
 *
 * File layout: [launcher ELF][compressed payload][trailer]
 *   trailer (little-endian): u64 offset, u64 compressed length,
 *   u64 uncompressed length, char id[32] (NUL-padded build id), char magic[8]
 *   payload entries: u8 type ('F' file, 'L' symlink), u32 mode, u32 path length,
 *   path, u64 data length, data (file bytes or symlink target)
 *
 * Errors are one line on stdout and exit status 1, as Docker expects of a
 * credential helper; warnings are one line on stderr.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "fastpath.h"
#include "rules.h"
#include "trust.h"

#define NAME RULE_APP
#define MAGIC RULE_PACK_MAGIC
#define TRAILER_SIZE 64
#define PROGRAM NAME ".bin"
#define LOADER "_internal/glibc/" RULE_LOADER
#define LIBPATH_FMT "%s/_internal/glibc:%s/_internal"
#define MANIFEST ".docker-credential-ecr-build"
#define MANIFEST_MAX (1 << 20)
#define KEEP_UNUSED (24 * 3600) /* seconds a build of another version is kept after its last use */
#define COUNT(a) (sizeof(a) / sizeof *(a))

/* This executable's real path, for the program to run itself again (background refresh). */
static const char *self_exe = "";

struct trailer {
    uint64_t offset, clen, ulen;
    char id[33];
};

static void fail(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));
static void fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs(NAME ": ", stdout);
    vprintf(fmt, ap);
    fputc('\n', stdout);
    va_end(ap);
    fflush(stdout);
    exit(1);
}

static void warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void warn(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs(NAME ": warning: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

static uint64_t le64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

static uint32_t le32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* Find this executable's real path: /proc/self/exe where /proc exists, else argv[0] or PATH. */
static int self_path(const char *argv0, char *out)
{
    ssize_t len = readlink("/proc/self/exe", out, PATH_MAX - 1);
    if (len > 0) {
        out[len] = '\0';
        return 0;
    }
    if (strchr(argv0, '/'))
        return realpath(argv0, out) ? 0 : -1;
    const char *path = getenv("PATH");
    char buf[PATH_MAX];
    while (path && *path) {
        const char *end = strchrnul(path, ':');
        if (snprintf(buf, sizeof buf, "%.*s/%s", (int)(end - path), path, argv0) < (int)sizeof buf &&
            access(buf, X_OK) == 0)
            return realpath(buf, out) ? 0 : -1;
        path = *end ? end + 1 : end;
    }
    return -1;
}

static int read_trailer(int fd, struct trailer *t)
{
    unsigned char raw[TRAILER_SIZE];
    off_t size = lseek(fd, 0, SEEK_END);
    if (size < TRAILER_SIZE || pread(fd, raw, TRAILER_SIZE, size - TRAILER_SIZE) != TRAILER_SIZE)
        return -1;
    if (memcmp(raw + 56, MAGIC, 8) != 0)
        return -1;
    t->offset = le64(raw);
    t->clen = le64(raw + 8);
    t->ulen = le64(raw + 16);
    memcpy(t->id, raw + 24, 32);
    t->id[32] = '\0';
    for (const char *c = t->id; *c; c++)
        if (!((*c >= '0' && *c <= '9') || (*c >= 'a' && *c <= 'f')))
            return -1;
    if (!t->id[0] || t->offset + t->clen + TRAILER_SIZE != (uint64_t)size)
        return -1;
    return 0;
}

/* ---- the runtime directory ---- */

struct base {
    char path[PATH_MAX]; /* where this process's private directory goes */
    int explicit;        /* named by DOCKER_CREDENTIAL_ECR_RUNTIME_DIR */
};

/* Candidate private directories, most preferred first; returns the count. */
static size_t candidates(struct base *out, size_t max)
{
    size_t n = 0;
    const char *v;
    unsigned uid = (unsigned)geteuid();
    if ((v = getenv(RULE_ENV_PREFIX "RUNTIME_DIR")) && *v) {
        /* Never the directory itself: it may be shared.  A private one inside it. */
        snprintf(out[n].path, PATH_MAX, "%s/" NAME "-%u", v, uid);
        out[n++].explicit = 1;
        return n;
    }
    /* Beside the helper's token cache, so it persists and follows AWS_ECR_CACHE_DIR. */
    if ((v = getenv("AWS_ECR_CACHE_DIR")) && *v)
        snprintf(out[n++].path, PATH_MAX, "%s/runtime", v);
    else if ((v = getenv("XDG_CACHE_HOME")) && *v == '/')
        snprintf(out[n++].path, PATH_MAX, "%s/" NAME "/runtime", v);
    else if ((v = getenv("HOME")) && *v == '/')
        snprintf(out[n++].path, PATH_MAX, "%s/.cache/" NAME "/runtime", v);
    if (uid == 0) /* root's own place, should the above lie in another user's tree */
        snprintf(out[n++].path, PATH_MAX, "%s/runtime", RULE_ROOT_CACHE_DIR);
    const char *tmps[] = {getenv("TMPDIR"), "/tmp", "/var/tmp", "/dev/shm"};
    for (size_t i = 0; i < COUNT(tmps) && n < max; i++)
        if (tmps[i] && *tmps[i] == '/')
            snprintf(out[n++].path, PATH_MAX, "%s/" NAME "-%u", tmps[i], uid);
    for (size_t i = 0; i < n; i++)
        out[i].explicit = 0;
    return n;
}

/* Create the missing directories of an already verified path, each 0700 and ours. */
static int make_missing(const char *path)
{
    char buf[PATH_MAX];
    if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf)
        return -1;
    for (char *p = buf + 1;; p++) {
        if (*p != '/' && *p)
            continue;
        char c = *p;
        *p = '\0';
        if (mkdir(buf, 0700) != 0 && errno != EEXIST)
            return -1;
        if (!c)
            return 0;
        *p = c;
    }
}

/* Open the private directory: verified path, created if missing, ours, 0700-tight, exec.
 * Returns a directory descriptor and the resolved path, or -1 with why (*untrusted set
 * when the trusted-path rule refused it). */
static int open_private(const char *path, char *resolved, char *why, size_t whylen, int *untrusted)
{
    char tmp[PATH_MAX];
    *untrusted = 1;
    if (trust_check_dir(path, geteuid(), tmp, sizeof tmp, why, whylen) != 0)
        return -1;
    *untrusted = 0;
    if (make_missing(tmp) != 0) {
        snprintf(why, whylen, "cannot create %s: %s", tmp, strerror(errno));
        return -1;
    }
    /* Again, now that it all exists: what was created is checked like the rest. */
    *untrusted = 1;
    if (trust_check_dir(tmp, geteuid(), resolved, PATH_MAX, why, whylen) != 0)
        return -1;
    *untrusted = 0;
    int fd = open(resolved, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    struct stat st;
    struct statvfs vfs;
    if (fd < 0 || fstat(fd, &st) != 0) {
        snprintf(why, whylen, "cannot open %s: %s", resolved, strerror(errno));
    } else if (st.st_uid != geteuid() || (st.st_mode & 077)) {
        snprintf(why, whylen, "%s is not private to uid %u (owner %u, mode %o)", resolved, (unsigned)geteuid(),
                 (unsigned)st.st_uid, (unsigned)(st.st_mode & 07777));
    } else if (fstatvfs(fd, &vfs) != 0 || (vfs.f_flag & ST_NOEXEC)) {
        snprintf(why, whylen, "%s is on a filesystem mounted noexec", resolved);
    } else if (faccessat(fd, ".", W_OK | X_OK, AT_EACCESS) != 0) {
        snprintf(why, whylen, "%s is not writable", resolved);
    } else {
        return fd;
    }
    if (fd >= 0)
        close(fd);
    return -1;
}

/* Remove a tree under dirfd without following any symlink. */
static int rm_tree_at(int parent, const char *name)
{
    int fd = openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOTDIR || errno == ELOOP ? unlinkat(parent, name, 0) : (errno == ENOENT ? 0 : -1);
    DIR *d = fdopendir(fd);
    if (!d) {
        close(fd);
        return -1;
    }
    struct dirent *e;
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
            rm_tree_at(dirfd(d), e->d_name);
    closedir(d);
    return unlinkat(parent, name, AT_REMOVEDIR);
}

/* Take a lock on <name> under dirfd, where the lock file may be deleted by whoever holds it
 * exclusively: retry until the file locked is the one still linked there. */
static int lock_file(int dirfd, const char *name, int op)
{
    for (;;) {
        int fd = openat(dirfd, name, O_RDWR | O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, 0600);
        if (fd < 0)
            return -1;
        struct stat held, linked;
        if (flock(fd, op) != 0 || fstat(fd, &held) != 0 || !S_ISREG(held.st_mode)) {
            close(fd);
            return -1;
        }
        if (fstatat(dirfd, name, &linked, AT_SYMLINK_NOFOLLOW) == 0 && linked.st_dev == held.st_dev &&
            linked.st_ino == held.st_ino)
            return fd;
        close(fd);
    }
}

static int write_all(int fd, const unsigned char *p, size_t n)
{
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* mkdir -p of the directories of `rel` (a path inside dirfd), each 0700. */
static int make_parents_at(int dirfd, char *rel)
{
    for (char *p = rel; (p = strchr(p, '/')); p++) {
        *p = '\0';
        int rc = mkdirat(dirfd, rel, 0700);
        *p = '/';
        if (rc != 0 && errno != EEXIST)
            return -1;
    }
    return 0;
}

struct manifest {
    char *text;
    size_t len, cap;
};

static int manifest_add(struct manifest *m, char type, uint64_t size, const char *rel)
{
    size_t need = strlen(rel) + 32;
    if (m->len + need > m->cap) {
        size_t cap = m->cap ? 2 * m->cap : 65536;
        while (cap < m->len + need)
            cap *= 2;
        char *grown = realloc(m->text, cap);
        if (!grown)
            return -1;
        m->text = grown;
        m->cap = cap;
    }
    m->len += (size_t)snprintf(m->text + m->len, m->cap - m->len, "%c %llu %s\n", type,
                               (unsigned long long)size, rel);
    return 0;
}

/* Write every payload entry under dirfd; list each in the manifest. */
static int write_entries(int dirfd, const unsigned char *data, size_t ulen, struct manifest *m,
                         char *why, size_t whylen)
{
    for (size_t pos = 0; pos < ulen;) {
        if (ulen - pos < 9)
            goto corrupt;
        unsigned char type = data[pos];
        uint32_t mode = le32(data + pos + 1), plen = le32(data + pos + 5);
        pos += 9;
        char rel[1024];
        if (ulen - pos < (size_t)plen + 8 || plen == 0 || plen >= sizeof rel)
            goto corrupt;
        memcpy(rel, data + pos, plen);
        rel[plen] = '\0';
        pos += plen;
        uint64_t size = le64(data + pos);
        pos += 8;
        if (ulen - pos < size || rel[0] == '/' || strstr(rel, "..") || memchr(rel, 0, plen) ||
            !strcmp(rel, MANIFEST))
            goto corrupt;
        if (make_parents_at(dirfd, rel) != 0) {
            snprintf(why, whylen, "cannot create the directories of %s: %s", rel, strerror(errno));
            return -1;
        }
        if (type == 'L') {
            char target[PATH_MAX];
            if (size >= sizeof target)
                goto corrupt;
            memcpy(target, data + pos, size);
            target[size] = '\0';
            if (symlinkat(target, dirfd, rel) != 0) {
                snprintf(why, whylen, "cannot create %s: %s", rel, strerror(errno));
                return -1;
            }
        } else if (type == 'F') {
            int fd = openat(dirfd, rel, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0700);
            if (fd < 0 || write_all(fd, data + pos, size) != 0 || fchmod(fd, mode & 0700) != 0 || close(fd) != 0) {
                snprintf(why, whylen, "cannot write %s: %s", rel, strerror(errno));
                return -1;
            }
        } else {
            goto corrupt;
        }
        if (manifest_add(m, (char)type, size, rel) != 0) {
            snprintf(why, whylen, "out of memory");
            return -1;
        }
        pos += size;
    }
    return 0;
corrupt:
    snprintf(why, whylen, "the bundled program is corrupt");
    return -1;
}

/* Every directory of the tree, synced so that a crash cannot lose the names. */
static int sync_dirs(int fd)
{
    int rc = fsync(fd);
    DIR *d = fdopendir(dup(fd));
    if (!d)
        return -1;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        int child = openat(fd, e->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (child >= 0) {
            rc |= sync_dirs(child);
            close(child);
        }
    }
    closedir(d);
    return rc;
}

/* Unpack into the new directory tmpfd: every file, all of it on disk, then the manifest. */
static int unpack(int self, const struct trailer *t, int tmpfd, char *why, size_t whylen)
{
    unsigned char *packed = malloc(t->clen ? t->clen : 1), *data = malloc(t->ulen ? t->ulen : 1);
    struct manifest m = {0};
    uLongf ulen = (uLongf)t->ulen;
    int rc = -1;
    if (!packed || !data) {
        snprintf(why, whylen, "out of memory");
        goto out;
    }
    if (pread(self, packed, t->clen, (off_t)t->offset) != (ssize_t)t->clen) {
        snprintf(why, whylen, "cannot read the bundled program: %s", strerror(errno));
        goto out;
    }
    if (uncompress(data, &ulen, packed, (uLong)t->clen) != Z_OK || ulen != t->ulen) {
        snprintf(why, whylen, "the bundled program is corrupt");
        goto out;
    }
    if (manifest_add(&m, 'B', 0, t->id) != 0 || write_entries(tmpfd, data, ulen, &m, why, whylen) != 0)
        goto out;
    /* One syncfs rather than hundreds of fsyncs; the manifest is written only after it. */
    int fd = -1;
    if (syncfs(tmpfd) != 0 ||
        (fd = openat(tmpfd, MANIFEST, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600)) < 0 ||
        write_all(fd, (unsigned char *)m.text, m.len) != 0 || fsync(fd) != 0 || close(fd) != 0 ||
        sync_dirs(tmpfd) != 0) {
        snprintf(why, whylen, "cannot write the runtime copy: %s", strerror(errno));
        goto out;
    }
    rc = 0;
out:
    free(packed);
    free(data);
    free(m.text);
    return rc;
}

/* Does <id> under privfd hold this build, whole?  Every file of its manifest is checked. */
static int ready(int privfd, const char *id)
{
    int dfd = openat(privfd, id, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (dfd < 0)
        return 0;
    int ok = 0, fd = openat(dfd, MANIFEST, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    struct stat st;
    char *text = NULL;
    if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size <= 0 || st.st_size > MANIFEST_MAX ||
        !(text = malloc((size_t)st.st_size + 1)) || read(fd, text, (size_t)st.st_size) != st.st_size)
        goto out;
    text[st.st_size] = '\0';
    char first[64];
    snprintf(first, sizeof first, "B 0 %s\n", id);
    if (strncmp(text, first, strlen(first)) != 0 || text[st.st_size - 1] != '\n')
        goto out;
    for (char *line = text + strlen(first); *line;) {
        char *end = strchr(line, '\n'), *rel;
        *end = '\0';
        unsigned long long size = strtoull(line + 2, &rel, 10);
        struct stat f;
        if (*rel++ != ' ' || fstatat(dfd, rel, &f, AT_SYMLINK_NOFOLLOW) != 0)
            goto out;
        if (line[0] == 'F' ? !S_ISREG(f.st_mode) || (unsigned long long)f.st_size != size
                           : line[0] != 'L' || !S_ISLNK(f.st_mode) || (unsigned long long)f.st_size != size)
            goto out;
        line = end + 1;
    }
    ok = 1;
out:
    free(text);
    if (fd >= 0)
        close(fd);
    close(dfd);
    return ok;
}

static int hex_id(const char *s, size_t len)
{
    return strlen(s) >= len && strspn(s, "0123456789abcdef") >= len;
}

/* Remove what dead unpackers left, set-aside damaged copies, and other builds unused for a
 * day that no process runs.  Only names this launcher makes are considered. */
static void clean(int privfd, const char *id)
{
    DIR *d = fdopendir(dup(privfd));
    if (!d)
        return;
    size_t idlen = strlen(id);
    time_t now = time(NULL);
    struct dirent *e;
    while ((e = readdir(d))) {
        const char *n = e->d_name;
        if (n[0] == '.' && hex_id(n + 1, idlen) && n[1 + idlen] == '.') {
            /* .<id>.<...>: an unpacker's directory, locked while it works, or set aside. */
            int fd = openat(privfd, n, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            if (fd >= 0 && flock(fd, LOCK_EX | LOCK_NB) == 0)
                rm_tree_at(privfd, n);
            if (fd >= 0)
                close(fd);
        } else if (hex_id(n, idlen) && n[idlen] == '\0' && strcmp(n, id) != 0) {
            char lock[64];
            snprintf(lock, sizeof lock, "%s.lock", n);
            int fd = lock_file(privfd, lock, LOCK_EX | LOCK_NB);
            struct stat st;
            if (fd < 0)
                continue; /* running */
            if (fstat(fd, &st) == 0 && st.st_mtime < now - KEEP_UNUSED && rm_tree_at(privfd, n) == 0)
                unlinkat(privfd, lock, 0);
            close(fd);
        }
    }
    closedir(d);
}

/* Unpack this build into privfd as <id>: into a locked temporary directory, then renamed. */
static int install_build(int self, const struct trailer *t, int privfd, const char *where, char *why,
                         size_t whylen)
{
    char tmp[96], aside[96];
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    snprintf(tmp, sizeof tmp, ".%s.%ld.%ld", t->id, (long)getpid(), (long)ts.tv_nsec);
    if (mkdirat(privfd, tmp, 0700) != 0) {
        snprintf(why, whylen, "cannot create %s/%s: %s", where, tmp, strerror(errno));
        return -1;
    }
    int tmpfd = openat(privfd, tmp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (tmpfd < 0 || flock(tmpfd, LOCK_EX) != 0) {
        snprintf(why, whylen, "cannot open %s/%s: %s", where, tmp, strerror(errno));
        if (tmpfd >= 0)
            close(tmpfd);
        rm_tree_at(privfd, tmp);
        return -1;
    }
    int rc = unpack(self, t, tmpfd, why, whylen);
    if (rc == 0) {
        /* Exclusive: no process is between checking <id> and running it, so a damaged copy
         * can be set aside and the new one put in its place.  If a process runs <id>, it
         * passed the check: leave it, and use it if the rename below cannot. */
        char lock[64];
        snprintf(lock, sizeof lock, "%s.lock", t->id);
        int lk = lock_file(privfd, lock, LOCK_EX | LOCK_NB);
        if (lk >= 0 && !ready(privfd, t->id) && faccessat(privfd, t->id, F_OK, AT_SYMLINK_NOFOLLOW) == 0) {
            snprintf(aside, sizeof aside, ".%s.damaged.%ld", t->id, (long)ts.tv_nsec);
            warn("the unpacked copy in %s/%s is damaged; unpacking it again", where, t->id);
            renameat(privfd, t->id, privfd, aside);
        }
        if (renameat(privfd, tmp, privfd, t->id) != 0 && !ready(privfd, t->id)) {
            snprintf(why, whylen, "cannot rename %s/%s: %s", where, tmp, strerror(errno));
            rc = -1;
        }
        if (lk >= 0)
            close(lk);
    }
    if (rc != 0 || faccessat(privfd, tmp, F_OK, AT_SYMLINK_NOFOLLOW) == 0)
        rm_tree_at(privfd, tmp); /* failed, or another process unpacked the same build first */
    fsync(privfd);
    close(tmpfd);
    return rc;
}

/* The folder form's checks: the bundle's program and loader are there. */
static int ready_folder(const char *dir)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/" LOADER, dir);
    if (access(path, X_OK) != 0)
        return 0;
    snprintf(path, sizeof path, "%s/" PROGRAM, dir);
    return access(path, X_OK) == 0;
}

static void run(const char *target, int argc, char **argv)
{
    char loader[PATH_MAX], libpath[2 * PATH_MAX + 32], program[PATH_MAX];
    snprintf(loader, sizeof loader, "%s/" LOADER, target);
    snprintf(libpath, sizeof libpath, LIBPATH_FMT, target, target);
    snprintf(program, sizeof program, "%s/" PROGRAM, target);
    /* PyInstaller's one-folder bootloader re-executes itself once to put its
     * libraries on LD_LIBRARY_PATH; that re-exec would bypass our loader and
     * cost a second start.  --library-path already does its job, so tell the
     * bootloader it is the restarted process (level -1, "parent needs
     * restart", for this very archive). */
    if (setenv("_PYI_ARCHIVE_FILE", program, 1) != 0 || setenv("_PYI_PARENT_PROCESS_LEVEL", "-1", 1) != 0 ||
        setenv("_DOCKER_CREDENTIAL_ECR_LAUNCHER", self_exe, 1) != 0)
        fail("cannot set up the environment: %s", strerror(errno));
    char **args = calloc((size_t)argc + 6, sizeof *args);
    if (!args)
        fail("out of memory");
    int n = 0;
    args[n++] = loader;
    args[n++] = "--inhibit-cache";
    args[n++] = "--library-path";
    args[n++] = libpath;
    args[n++] = program;
    for (int i = 1; i < argc; i++)
        args[n++] = argv[i];
    args[n] = NULL;
    execv(loader, args);
    fail("cannot run %s: %s", loader, strerror(errno));
}

/* Run this build from the private directory privfd (at path `where`), unpacking it first if
 * needed.  Returns only on failure, with why. */
static void run_build(int self, const struct trailer *t, int privfd, const char *where, int argc, char **argv,
                      char *why, size_t whylen)
{
    char lock[64], target[PATH_MAX];
    snprintf(lock, sizeof lock, "%s.lock", t->id);
    if (snprintf(target, sizeof target, "%s/%s", where, t->id) >= (int)sizeof target) {
        snprintf(why, whylen, "%s: path too long", where);
        return;
    }
    for (int attempt = 0; attempt < 2; attempt++) {
        /* Held, shared, by this process and the program it becomes: no one deletes a build
         * that is running. */
        int fd = lock_file(privfd, lock, LOCK_SH);
        if (fd < 0) {
            snprintf(why, whylen, "cannot lock %s/%s: %s", where, lock, strerror(errno));
            return;
        }
        if (ready(privfd, t->id)) {
            futimens(fd, NULL); /* last used: clean() keeps builds used within a day */
            if (fcntl(fd, F_SETFD, 0) != 0) {
                snprintf(why, whylen, "cannot keep the lock of %s: %s", target, strerror(errno));
                close(fd);
                return;
            }
            close(self);
            run(target, argc, argv);
        }
        close(fd);
        if (attempt) {
            snprintf(why, whylen, "the copy unpacked into %s does not match its manifest", target);
            return;
        }
        if (install_build(self, t, privfd, where, why, whylen) != 0)
            return;
        clean(privfd, t->id);
    }
}

/* Under the kubelet provider's name, the arguments the Python helper would see there
 * (kubelet.program_arguments): anything but the helper's own help and version options
 * means the kubelet action.  Returns argv itself, or a new array with the action first. */
static char **program_arguments(int *argc, char **argv)
{
    const char *name = *argc > 0 ? argv[0] : "";
    const char *base = strrchr(name, '/');
    base = base ? base + 1 : name;
    if (strcmp(base, RULE_KUBELET_PROGRAM) != 0)
        return argv;
    if (*argc > 1) {
        if (strcmp(argv[1], RULE_KUBELET_ACTION) == 0)
            return argv;
        for (size_t i = 0; i < COUNT(RULE_KUBELET_OWN_ARGUMENTS); i++)
            if (strcmp(argv[1], RULE_KUBELET_OWN_ARGUMENTS[i]) == 0)
                return argv;
    }
    char **args = calloc((size_t)*argc + 2, sizeof *args);
    if (!args)
        fail("out of memory");
    args[0] = (char *)name;
    args[1] = (char *)RULE_KUBELET_ACTION;
    for (int i = 1; i < *argc; i++)
        args[i + 1] = argv[i];
    *argc += 1;
    return args;
}

int main(int argc, char **argv)
{
    if (getuid() != geteuid() || getgid() != getegid())
        fail("refusing to run set-user-ID or set-group-ID; install it with mode 0755");
    argv = program_arguments(&argc, argv);

    int status = fastpath_get(argc, argv);
    if (status != FASTPATH_DECLINED)
        return status;

    struct trailer t;
    char me[PATH_MAX];
    if (self_path(argc > 0 ? argv[0] : NAME, me) != 0)
        fail("cannot find this executable's own path: %s", strerror(errno));
    static char me_copy[PATH_MAX];
    memcpy(me_copy, me, sizeof me_copy);
    self_exe = me_copy;
    int self = open(me, O_RDONLY | O_CLOEXEC);
    int open_errno = errno;
    if (self < 0 || read_trailer(self, &t) != 0) {
        /* Folder form: the bundle is beside this launcher, and run only from where no one
         * but root and this user can change it. */
        char *slash = strrchr(me, '/'), folder[PATH_MAX], why[PATH_MAX + 256];
        *slash = '\0';
        if (slash > me && ready_folder(me)) {
            if (trust_check_dir(me, geteuid(), folder, sizeof folder, why, sizeof why) != 0)
                fail("not running the program in %s: %s; install it where only root can write", me, why);
            run(folder, argc, argv);
        }
        *slash = '/';
        /* Executable but unreadable (mode 0711, or a directory the user cannot read). */
        if (self < 0)
            fail("cannot read %s, which this user must be able to read to run it: %s", me,
                 strerror(open_errno));
        fail("%s is damaged: its bundled program is missing or truncated", me);
    }

    struct base bases[8];
    char resolved[PATH_MAX], why[2 * PATH_MAX + 256] = "", failed[3 * PATH_MAX + 256] = "", tried[4096] = "";
    size_t n = candidates(bases, COUNT(bases));
    /* The first usable candidate wins: run its copy, or unpack one there. */
    for (size_t i = 0; i < n; i++) {
        int untrusted;
        int privfd = open_private(bases[i].path, resolved, why, sizeof why, &untrusted);
        if (privfd < 0) {
            if (bases[i].explicit)
                fail(RULE_ENV_PREFIX "RUNTIME_DIR=%s cannot be used: %s", getenv(RULE_ENV_PREFIX "RUNTIME_DIR"),
                     why);
            if (untrusted)
                warn("not running from %s: %s; set " RULE_ENV_PREFIX "RUNTIME_DIR to a directory only you "
                     "and root can write",
                     bases[i].path, why);
            size_t used = strlen(tried);
            snprintf(tried + used, sizeof tried - used, "%s%s", used ? ", " : "", bases[i].path);
            continue;
        }
        run_build(self, &t, privfd, resolved, argc, argv, why, sizeof why);
        /* A full or failing disk: try the next candidate, report this if none works. */
        close(privfd);
        if (bases[i].explicit)
            fail("cannot unpack into %s: %s", resolved, why);
        snprintf(failed, sizeof failed, "cannot unpack into %s: %s", resolved, why);
    }
    if (failed[0])
        fail("%s", failed);
    fail("no directory to unpack into that allows running programs and that only this user and "
         "root can write (tried %s); set " RULE_ENV_PREFIX "RUNTIME_DIR to one, e.g. /var/lib/" NAME,
         tried);
}
