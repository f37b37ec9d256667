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
 * first use it is unpacked, once per build, into a private directory that
 * allows executing programs; later runs only check that directory.  So the
 * single file starts as fast as the folder, and a noexec /tmp does not matter.
 *
 * File layout: [launcher ELF][compressed payload][trailer]
 *   trailer (little-endian): u64 offset, u64 compressed length,
 *   u64 uncompressed length, char id[32] (NUL-padded build id), char magic[8]
 *   payload entries: u8 type ('F' file, 'L' symlink), u32 mode, u32 path length,
 *   path, u64 data length, data (file bytes or symlink target)
 *
 * Errors are one line on stdout and exit status 1, as Docker expects of a
 * credential helper.
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
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/types.h>
#include <unistd.h>
#include <zlib.h>

#include "fastpath.h"

#define NAME "docker-credential-ecr"
#define MAGIC "DCECRPK1"
#define TRAILER_SIZE 64
#define PROGRAM NAME ".bin"
#define LOADER "_internal/glibc/ld-linux-x86-64.so.2"
#define LIBPATH_FMT "%s/_internal/glibc:%s/_internal"

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

/* A directory we may unpack into and run from: ours, private, writable, exec. */
static int usable_dir(const char *dir, int create)
{
    struct stat st;
    struct statvfs vfs;
    if (create && mkdir(dir, 0700) != 0 && errno != EEXIST)
        return 0;
    if (lstat(dir, &st) != 0 || !S_ISDIR(st.st_mode) || st.st_uid != geteuid())
        return 0;
    if ((st.st_mode & 077) && chmod(dir, 0700) != 0)
        return 0;
    if (access(dir, W_OK | X_OK) != 0 || statvfs(dir, &vfs) != 0 || (vfs.f_flag & ST_NOEXEC))
        return 0;
    return 1;
}

static int mkdirs(char *path, mode_t mode)
{
    for (char *p = path + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        int rc = mkdir(path, mode);
        *p = '/';
        if (rc != 0 && errno != EEXIST)
            return -1;
    }
    return mkdir(path, mode) == 0 || errno == EEXIST ? 0 : -1;
}

/* Candidate parent directories, most preferred first; returns the count. */
static int candidates(char out[][PATH_MAX], int max, int *explicit)
{
    int n = 0;
    const char *v;
    *explicit = 0;
    if ((v = getenv("DOCKER_CREDENTIAL_ECR_RUNTIME_DIR")) && *v) {
        snprintf(out[n++], PATH_MAX, "%s", v);
        *explicit = 1;
        return n;
    }
    /* Beside the helper's token cache, so it persists and follows AWS_ECR_CACHE_DIR. */
    if ((v = getenv("AWS_ECR_CACHE_DIR")) && *v == '/')
        snprintf(out[n++], PATH_MAX, "%s/runtime", v);
    else if ((v = getenv("XDG_CACHE_HOME")) && *v == '/')
        snprintf(out[n++], PATH_MAX, "%s/" NAME "/runtime", v);
    else if ((v = getenv("HOME")) && *v == '/')
        snprintf(out[n++], PATH_MAX, "%s/.cache/" NAME "/runtime", v);
    const char *tmps[] = {getenv("TMPDIR"), "/tmp", "/var/tmp", "/dev/shm"};
    for (size_t i = 0; i < sizeof tmps / sizeof *tmps && n < max; i++)
        if (tmps[i] && *tmps[i] == '/')
            snprintf(out[n++], PATH_MAX, "%s/" NAME "-%u", tmps[i], (unsigned)geteuid());
    return n;
}

static int rm_tree(const char *path)
{
    struct stat st;
    if (lstat(path, &st) != 0)
        return errno == ENOENT ? 0 : -1;
    if (S_ISDIR(st.st_mode)) {
        DIR *d = opendir(path);
        if (!d)
            return -1;
        struct dirent *e;
        char child[PATH_MAX];
        while ((e = readdir(d))) {
            if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
                continue;
            if (snprintf(child, sizeof child, "%s/%s", path, e->d_name) < (int)sizeof child)
                rm_tree(child);
        }
        closedir(d);
        return rmdir(path);
    }
    return unlink(path);
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

/* Unpack the payload into dir (which must not exist yet). */
static int unpack(int self, const struct trailer *t, const char *dir, char *why, size_t whylen)
{
    unsigned char *packed = malloc(t->clen ? t->clen : 1), *data = malloc(t->ulen ? t->ulen : 1);
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
    if (mkdir(dir, 0700) != 0) {
        snprintf(why, whylen, "cannot create %s: %s", dir, strerror(errno));
        goto out;
    }
    for (size_t pos = 0; pos < ulen;) {
        if (ulen - pos < 9)
            goto corrupt;
        unsigned char type = data[pos];
        uint32_t mode = le32(data + pos + 1), plen = le32(data + pos + 5);
        pos += 9;
        if (ulen - pos < (size_t)plen + 8 || plen == 0 || plen >= 1024)
            goto corrupt;
        char rel[1024], path[PATH_MAX];
        memcpy(rel, data + pos, plen);
        rel[plen] = '\0';
        pos += plen;
        uint64_t size = le64(data + pos);
        pos += 8;
        if (ulen - pos < size || rel[0] == '/' || strstr(rel, "..") || memchr(rel, 0, plen))
            goto corrupt;
        if (snprintf(path, sizeof path, "%s/%s", dir, rel) >= (int)sizeof path)
            goto corrupt;
        char *slash = strrchr(path, '/');
        *slash = '\0';
        if (mkdirs(path, 0700) != 0) {
            snprintf(why, whylen, "cannot create %s: %s", path, strerror(errno));
            goto out;
        }
        *slash = '/';
        if (type == 'L') {
            char target[PATH_MAX];
            if (size >= sizeof target)
                goto corrupt;
            memcpy(target, data + pos, size);
            target[size] = '\0';
            if (symlink(target, path) != 0) {
                snprintf(why, whylen, "cannot create %s: %s", path, strerror(errno));
                goto out;
            }
        } else if (type == 'F') {
            int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0700);
            if (fd < 0 || write_all(fd, data + pos, size) != 0 || fchmod(fd, mode & 0700) != 0 ||
                close(fd) != 0) {
                snprintf(why, whylen, "cannot write %s: %s", path, strerror(errno));
                goto out;
            }
        } else {
            goto corrupt;
        }
        pos += size;
    }
    rc = 0;
    goto out;
corrupt:
    snprintf(why, whylen, "the bundled program is corrupt");
out:
    free(packed);
    free(data);
    return rc;
}

/* Remove unpacked copies of other builds so upgrades do not pile up. */
static void remove_other_builds(const char *base, const char *id)
{
    DIR *d = opendir(base);
    if (!d)
        return;
    struct dirent *e;
    char path[PATH_MAX];
    while ((e = readdir(d))) {
        size_t len = strlen(e->d_name);
        if (e->d_name[0] == '.' || len != strlen(id) || !strcmp(e->d_name, id))
            continue;
        if (strspn(e->d_name, "0123456789abcdef") == len &&
            snprintf(path, sizeof path, "%s/%s", base, e->d_name) < (int)sizeof path)
            rm_tree(path);
    }
    closedir(d);
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

static int ready(const char *target)
{
    struct stat st;
    struct statvfs vfs;
    if (lstat(target, &st) != 0 || !S_ISDIR(st.st_mode) || st.st_uid != geteuid() || (st.st_mode & 022))
        return 0;
    if (statvfs(target, &vfs) != 0 || (vfs.f_flag & ST_NOEXEC))
        return 0;
    return ready_folder(target);
}

static void run(const char *unresolved, int argc, char **argv)
{
    char target[PATH_MAX], loader[PATH_MAX], libpath[2 * PATH_MAX + 32], program[PATH_MAX];
    if (!realpath(unresolved, target))
        fail("cannot run from %s: %s", unresolved, strerror(errno));
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

int main(int argc, char **argv)
{
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
        /* Folder form: the bundle is beside this launcher. */
        char *slash = strrchr(me, '/');
        *slash = '\0';
        if (slash > me && ready_folder(me))
            run(me, argc, argv);
        *slash = '/';
        /* Executable but unreadable (mode 0711, or a directory the user cannot read). */
        if (self < 0)
            fail("cannot read %s, which this user must be able to read to run it: %s", me,
                 strerror(open_errno));
        fail("%s is damaged: its bundled program is missing or truncated", me);
    }

    char bases[6][PATH_MAX], target[PATH_MAX], tried[4096] = "", why[PATH_MAX + 128] = "",
         failed[2 * PATH_MAX + 256] = "";
    int explicit;
    int n = candidates(bases, 6, &explicit);
    /* The first usable candidate wins: run its copy, or unpack one there. */
    for (int i = 0; i < n; i++) {
        char *base = bases[i];
        if (snprintf(target, sizeof target, "%s/%s", base, t.id) < (int)sizeof target && ready(target)) {
            close(self);
            run(target, argc, argv);
        }
        if (mkdirs(base, 0700) != 0 || !usable_dir(base, 0)) {
            size_t used = strlen(tried);
            snprintf(tried + used, sizeof tried - used, "%s%s", used ? ", " : "", base);
            continue;
        }
        char tmp[PATH_MAX];
        if (snprintf(target, sizeof target, "%s/%s", base, t.id) >= (int)sizeof target ||
            snprintf(tmp, sizeof tmp, "%s/.%s.%ld", base, t.id, (long)getpid()) >= (int)sizeof tmp)
            continue;
        rm_tree(tmp);
        if (unpack(self, &t, tmp, why, sizeof why) != 0) {
            /* A full or failing disk: try the next candidate, report this if none works. */
            rm_tree(tmp);
            snprintf(failed, sizeof failed, "cannot unpack into %s: %s", base, why);
            continue;
        }
        if (rename(tmp, target) != 0) {
            /* Another process unpacked the same build first: use its copy. */
            int err = errno;
            rm_tree(tmp);
            if (!ready(target)) {
                snprintf(failed, sizeof failed, "cannot unpack into %s: %s", base, strerror(err));
                continue;
            }
        } else {
            remove_other_builds(base, t.id);
        }
        close(self);
        run(target, argc, argv);
    }
    if (failed[0])
        fail("%s", failed);
    if (explicit)
        fail("DOCKER_CREDENTIAL_ECR_RUNTIME_DIR=%s is not a writable directory of yours on a "
             "filesystem that allows running programs",
             bases[0]);
    fail("no writable directory that allows running programs to unpack into (tried %s: noexec, "
         "not writable or not ours); set DOCKER_CREDENTIAL_ECR_RUNTIME_DIR to one, "
         "e.g. /var/lib/" NAME,
         tried);
}
