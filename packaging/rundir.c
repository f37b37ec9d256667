/*
 * The runtime directory of the single-file form: where its bundle is unpacked,
 * once per build, and run from later.
 *
 * It runs as root on every pull, so what it unpacks into and deletes is held to
 * the trusted-path rule (trust.c): every directory on the way is owned by root or
 * the user and writable by no one else.  Within its runtime directory
 * (<base>/<id>/ per build):
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
 * Failures that only leave something behind for a later clean() to remove, or
 * that a later check catches anyway, are not reported: they are named where
 * they are ignored.  A descriptor only read or locked is closed without a
 * check, as closing it cannot lose data.
 */
#define _GNU_SOURCE
#include "rundir.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include "rules.h"
#include "trust.h"

#define NAME RULE_APP
#define MANIFEST ".docker-credential-ecr-build"
#define MANIFEST_MAX (1 << 20)
#define KEEP_UNUSED (24L * 3600) /* seconds a build of another version is kept after its last use */
#define NOT_READY (-2)
#define COUNT(a) (sizeof(a) / sizeof *(a))

/* ---- choosing and opening the private directory ---- */

/* Beside the helper's token cache, so it persists and follows AWS_ECR_CACHE_DIR. */
static size_t cache_candidate(char *out)
{
    const char *v;
    if ((v = getenv("AWS_ECR_CACHE_DIR")) && *v)
        snprintf(out, PATH_MAX, "%s/runtime", v);
    else if ((v = getenv("XDG_CACHE_HOME")) && *v == '/')
        snprintf(out, PATH_MAX, "%s/" NAME "/runtime", v);
    else if ((v = getenv("HOME")) && *v == '/')
        snprintf(out, PATH_MAX, "%s/.cache/" NAME "/runtime", v);
    else
        return 0;
    return 1;
}

size_t rundir_candidates(struct rundir_base *out, size_t max)
{
    unsigned uid = (unsigned)geteuid();
    const char *v = getenv(RULE_ENV_PREFIX "RUNTIME_DIR");
    if (v && *v) {
        /* Never the directory itself: it may be shared.  A private one inside it. */
        snprintf(out[0].path, PATH_MAX, "%s/" NAME "-%u", v, uid);
        out[0].explicit = 1;
        return 1;
    }
    size_t n = cache_candidate(out[0].path);
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

static int resolve_private(const char *path, char *resolved, char *why, size_t whylen, int *untrusted)
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
    return 0;
}

/* The descriptor, not the path, is checked: it is what every later step goes through. */
static int check_private(int fd, const char *resolved, char *why, size_t whylen)
{
    struct stat st;
    struct statvfs vfs;
    if (fstat(fd, &st) != 0) {
        snprintf(why, whylen, "cannot open %s: %s", resolved, strerror(errno));
    } else if (st.st_uid != geteuid() || (st.st_mode & 077)) {
        snprintf(why, whylen, "%s is not private to uid %u (owner %u, mode %o)", resolved,
                 (unsigned)geteuid(), (unsigned)st.st_uid, (unsigned)(st.st_mode & 07777));
    } else if (fstatvfs(fd, &vfs) != 0 || (vfs.f_flag & ST_NOEXEC)) {
        snprintf(why, whylen, "%s is on a filesystem mounted noexec", resolved);
    } else if (faccessat(fd, ".", W_OK | X_OK, AT_EACCESS) != 0) {
        snprintf(why, whylen, "%s is not writable", resolved);
    } else {
        return 0;
    }
    return -1;
}

int rundir_open(const char *path, char *resolved, char *why, size_t whylen, int *untrusted)
{
    if (resolve_private(path, resolved, why, whylen, untrusted) != 0)
        return -1;
    int fd = open(resolved, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        snprintf(why, whylen, "cannot open %s: %s", resolved, strerror(errno));
        return -1;
    }
    if (check_private(fd, resolved, why, whylen) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* ---- files and locks under a directory descriptor ---- */

/* Close fd after a failure, keeping the failure's errno for its message. */
static int close_failed(int fd)
{
    int err = errno;
    close(fd);
    errno = err;
    return -1;
}

/* A stream of its own, so that closing it leaves fd open. */
static DIR *open_dir_of(int fd)
{
    int copy = dup(fd);
    if (copy < 0)
        return NULL;
    DIR *d = fdopendir(copy);
    if (!d)
        close(copy);
    return d;
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
    /* What cannot be removed below makes the directory's own removal fail: that is the
     * one result that matters. */
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
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
        if (flock(fd, op) != 0 || fstat(fd, &held) != 0 || !S_ISREG(held.st_mode))
            return close_failed(fd);
        if (fstatat(dirfd, name, &linked, AT_SYMLINK_NOFOLLOW) == 0) {
            if (linked.st_dev == held.st_dev && linked.st_ino == held.st_ino)
                return fd;
        } else if (errno != ENOENT) {
            return close_failed(fd); /* retrying could not change it */
        }
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

/* ---- unpacking ---- */

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

static int corrupt(char *why, size_t whylen)
{
    snprintf(why, whylen, BUNDLE_CORRUPT);
    return -1;
}

static int write_symlink(int dirfd, const struct bundle_entry *e, char *why, size_t whylen)
{
    char target[PATH_MAX];
    if (e->size >= sizeof target)
        return corrupt(why, whylen);
    memcpy(target, e->data, e->size);
    target[e->size] = '\0';
    if (symlinkat(target, dirfd, e->path) != 0) {
        snprintf(why, whylen, "cannot create %s: %s", e->path, strerror(errno));
        return -1;
    }
    return 0;
}

static int write_file(int dirfd, const struct bundle_entry *e, char *why, size_t whylen)
{
    int fd = openat(dirfd, e->path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0700);
    if (fd < 0)
        goto failed;
    if (write_all(fd, e->data, e->size) != 0 || fchmod(fd, e->mode & 0700) != 0) {
        close_failed(fd);
        goto failed;
    }
    if (close(fd) != 0)
        goto failed;
    return 0;
failed:
    snprintf(why, whylen, "cannot write %s: %s", e->path, strerror(errno));
    return -1;
}

static int write_entry(int dirfd, struct bundle_entry *e, char *why, size_t whylen)
{
    if (make_parents_at(dirfd, e->path) != 0) {
        snprintf(why, whylen, "cannot create the directories of %s: %s", e->path, strerror(errno));
        return -1;
    }
    if (e->type == BUNDLE_SYMLINK)
        return write_symlink(dirfd, e, why, whylen);
    if (e->type == BUNDLE_FILE)
        return write_file(dirfd, e, why, whylen);
    return corrupt(why, whylen);
}

/* Write every payload entry under dirfd; list each in the manifest. */
static int write_entries(int dirfd, const unsigned char *data, size_t ulen, struct manifest *m, char *why,
                         size_t whylen)
{
    struct bundle_entry e;
    for (size_t pos = 0; pos < ulen;) {
        /* An entry of the manifest's name would stand in for the manifest itself. */
        if (bundle_entry_at(data, ulen, &pos, &e) != 0 || !strcmp(e.path, MANIFEST))
            return corrupt(why, whylen);
        if (write_entry(dirfd, &e, why, whylen) != 0)
            return -1;
        if (manifest_add(m, (char)e.type, e.size, e.path) != 0) {
            snprintf(why, whylen, "out of memory");
            return -1;
        }
    }
    return 0;
}

static int sync_dirs(int fd);

/* An entry that is not a directory was flushed by the syncfs before: only its name needs
 * its directory synced. */
static int sync_child(int fd, const char *name)
{
    if (!strcmp(name, ".") || !strcmp(name, ".."))
        return 0;
    int child = openat(fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (child < 0)
        return errno == ENOTDIR || errno == ELOOP ? 0 : -1;
    if (sync_dirs(child) != 0)
        return close_failed(child);
    close(child);
    return 0;
}

/* Every directory of the tree, synced so that a crash cannot lose the names. */
static int sync_dirs(int fd)
{
    if (fsync(fd) != 0)
        return -1;
    DIR *d = open_dir_of(fd);
    if (!d)
        return -1;
    int rc = 0;
    for (;;) {
        errno = 0; /* readdir's end and its failure differ only in errno */
        struct dirent *e = readdir(d);
        if (!e) {
            rc = errno ? -1 : 0;
            break;
        }
        if (sync_child(fd, e->d_name) != 0) {
            rc = -1;
            break;
        }
    }
    int err = errno;
    closedir(d);
    errno = err;
    return rc;
}

/* One syncfs rather than hundreds of fsyncs; the manifest is written only after it, so a
 * copy with a manifest is whole on disk. */
static int write_manifest(int dirfd, const struct manifest *m, char *why, size_t whylen)
{
    int fd = -1;
    if (syncfs(dirfd) != 0 ||
        (fd = openat(dirfd, MANIFEST, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600)) < 0)
        goto failed;
    if (write_all(fd, (unsigned char *)m->text, m->len) != 0 || fsync(fd) != 0) {
        close_failed(fd);
        goto failed;
    }
    if (close(fd) != 0 || sync_dirs(dirfd) != 0)
        goto failed;
    return 0;
failed:
    snprintf(why, whylen, "cannot write the runtime copy: %s", strerror(errno));
    return -1;
}

/* Unpack into the new directory tmpfd: every file, all of it on disk, then the manifest. */
static int unpack(struct rundir_build *b, int tmpfd)
{
    unsigned char *data = bundle_payload(b->self, b->t, b->why, sizeof b->why);
    struct manifest m = {0};
    int rc = -1;
    if (!data)
        return -1;
    if (manifest_add(&m, 'B', 0, b->t->id) != 0)
        snprintf(b->why, sizeof b->why, "out of memory");
    else if (write_entries(tmpfd, data, b->t->ulen, &m, b->why, sizeof b->why) == 0)
        rc = write_manifest(tmpfd, &m, b->why, sizeof b->why);
    free(data);
    free(m.text);
    return rc;
}

/* ---- the manifest check ---- */

/* The manifest of the copy in dfd, NUL-terminated, with its length; or NULL. */
static char *read_manifest(int dfd, size_t *len)
{
    /* O_NONBLOCK: a FIFO put in its place must not hang the launcher. */
    int fd = openat(dfd, MANIFEST, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    struct stat st;
    char *text = NULL;
    if (fd < 0)
        return NULL;
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0 && st.st_size <= MANIFEST_MAX &&
        (text = malloc((size_t)st.st_size + 1)) && read(fd, text, (size_t)st.st_size) == st.st_size) {
        text[st.st_size] = '\0';
        *len = (size_t)st.st_size;
    } else {
        free(text);
        text = NULL;
    }
    close(fd);
    return text;
}

/* Is one manifest line, "<type> <size> <path>", what dfd holds? */
static int entry_matches(int dfd, const char *line)
{
    char *rel;
    unsigned long long size = strtoull(line + 2, &rel, 10);
    struct stat f;
    if (*rel++ != ' ' || fstatat(dfd, rel, &f, AT_SYMLINK_NOFOLLOW) != 0)
        return 0;
    if (line[0] == BUNDLE_FILE)
        return S_ISREG(f.st_mode) && (unsigned long long)f.st_size == size;
    return line[0] == BUNDLE_SYMLINK && S_ISLNK(f.st_mode) && (unsigned long long)f.st_size == size;
}

static int manifest_matches(int dfd, char *text, size_t len, const char *id)
{
    char first[64];
    snprintf(first, sizeof first, "B 0 %s\n", id);
    if (strncmp(text, first, strlen(first)) != 0 || text[len - 1] != '\n')
        return 0;
    for (char *line = text + strlen(first); *line;) {
        char *end = strchr(line, '\n');
        *end = '\0';
        if (!entry_matches(dfd, line))
            return 0;
        line = end + 1;
    }
    return 1;
}

/* Does <id> under privfd hold this build, whole?  Every file of its manifest is checked. */
static int ready(int privfd, const char *id)
{
    int dfd = openat(privfd, id, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (dfd < 0)
        return 0;
    size_t len = 0;
    char *text = read_manifest(dfd, &len);
    int ok = text && manifest_matches(dfd, text, len, id);
    free(text);
    close(dfd);
    return ok;
}

/* ---- clean-up ---- */

static int hex_id(const char *s, size_t len)
{
    return strlen(s) >= len && strspn(s, "0123456789abcdef") >= len;
}

/* .<id>.<...>: an unpacker's directory, locked while it works, or set aside. */
static void clean_unpacked(int privfd, const char *name)
{
    int fd = openat(privfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return;
    if (flock(fd, LOCK_EX | LOCK_NB) == 0)
        rm_tree_at(privfd, name); /* what is left, the next clean() tries again */
    close(fd);
}

/* <id> of another build: kept while a process runs it, and for a day after its last use. */
static void clean_build(int privfd, const char *name, time_t now)
{
    char lock[64];
    snprintf(lock, sizeof lock, "%s.lock", name);
    int fd = lock_file(privfd, lock, LOCK_EX | LOCK_NB);
    struct stat st;
    if (fd < 0)
        return; /* running */
    /* A lock file left behind is only a name: the next clean() removes it. */
    if (fstat(fd, &st) == 0 && st.st_mtime < now - KEEP_UNUSED && rm_tree_at(privfd, name) == 0)
        unlinkat(privfd, lock, 0);
    close(fd);
}

/* Remove what dead unpackers left, set-aside damaged copies, and other builds unused for a
 * day that no process runs.  Only names this launcher makes are considered; this is
 * housekeeping, so what it cannot remove stays for the next time. */
static void clean(int privfd, const char *id)
{
    DIR *d = open_dir_of(privfd);
    if (!d)
        return;
    size_t idlen = strlen(id);
    time_t now = time(NULL);
    struct dirent *e;
    while ((e = readdir(d))) {
        const char *n = e->d_name;
        if (n[0] == '.' && hex_id(n + 1, idlen) && n[1 + idlen] == '.')
            clean_unpacked(privfd, n);
        else if (hex_id(n, idlen) && n[idlen] == '\0' && strcmp(n, id) != 0)
            clean_build(privfd, n, now);
    }
    closedir(d);
}

/* ---- installing and taking a build ---- */

/* A new temporary directory, locked so that clean() knows its unpacker is alive. */
static int make_tmp(struct rundir_build *b, char *tmp, size_t tmplen, long nsec)
{
    snprintf(tmp, tmplen, ".%s.%ld.%ld", b->t->id, (long)getpid(), nsec);
    if (mkdirat(b->privfd, tmp, 0700) != 0) {
        snprintf(b->why, sizeof b->why, "cannot create %s/%s: %s", b->where, tmp, strerror(errno));
        return -1;
    }
    int tmpfd = openat(b->privfd, tmp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (tmpfd < 0 || flock(tmpfd, LOCK_EX) != 0) {
        snprintf(b->why, sizeof b->why, "cannot open %s/%s: %s", b->where, tmp, strerror(errno));
        if (tmpfd >= 0)
            close(tmpfd);
        rm_tree_at(b->privfd, tmp); /* failing, clean() removes it: its lock is free */
        return -1;
    }
    return tmpfd;
}

/* Put the unpacked tmp in the place of <id>. */
static int replace_build(struct rundir_build *b, const char *tmp, long nsec)
{
    const char *id = b->t->id;
    char lock[64], aside[96];
    int rc = 0;
    snprintf(lock, sizeof lock, "%s.lock", id);
    /* Exclusive: no process is between checking <id> and running it, so a damaged copy
     * can be set aside and the new one put in its place.  If a process runs <id>, it
     * passed the check: leave it, and use it if the rename below cannot. */
    int lk = lock_file(b->privfd, lock, LOCK_EX | LOCK_NB);
    if (lk >= 0 && !ready(b->privfd, id) && faccessat(b->privfd, id, F_OK, AT_SYMLINK_NOFOLLOW) == 0) {
        snprintf(aside, sizeof aside, ".%s.damaged.%ld", id, nsec);
        snprintf(b->warning, sizeof b->warning, "the unpacked copy in %s/%s is damaged; unpacking it again",
                 b->where, id);
        renameat(b->privfd, id, b->privfd, aside); /* failing, so does the rename below, and says so */
    }
    if (renameat(b->privfd, tmp, b->privfd, id) != 0 && !ready(b->privfd, id)) {
        snprintf(b->why, sizeof b->why, "cannot rename %s/%s: %s", b->where, tmp, strerror(errno));
        rc = -1;
    }
    if (lk >= 0)
        close(lk);
    return rc;
}

/* Unpack this build into privfd as <id>: into a locked temporary directory, then renamed. */
static int install_build(struct rundir_build *b)
{
    char tmp[96];
    struct timespec ts;
    if (clock_gettime(CLOCK_REALTIME, &ts) != 0) {
        snprintf(b->why, sizeof b->why, "cannot read the clock: %s", strerror(errno));
        return -1;
    }
    int tmpfd = make_tmp(b, tmp, sizeof tmp, (long)ts.tv_nsec);
    if (tmpfd < 0)
        return -1;
    int rc = unpack(b, tmpfd);
    if (rc == 0)
        rc = replace_build(b, tmp, (long)ts.tv_nsec);
    if (rc != 0 || faccessat(b->privfd, tmp, F_OK, AT_SYMLINK_NOFOLLOW) == 0)
        rm_tree_at(b->privfd, tmp); /* failed, or another process unpacked the same build first */
    /* Unsynced, a crash may lose the rename: the next run finds no <id> and unpacks again. */
    fsync(b->privfd);
    close(tmpfd);
    return rc;
}

/* The shared lock on <id>, made inheritable, if <id> is whole; else NOT_READY, or -1 with why. */
static int lock_ready(struct rundir_build *b, const char *lock)
{
    /* Held, shared, by this process and the program it becomes: no one deletes a build
     * that is running. */
    int fd = lock_file(b->privfd, lock, LOCK_SH);
    if (fd < 0) {
        snprintf(b->why, sizeof b->why, "cannot lock %s/%s: %s", b->where, lock, strerror(errno));
        return -1;
    }
    if (!ready(b->privfd, b->t->id)) {
        close(fd);
        return NOT_READY;
    }
    /* Last used: clean() keeps builds used within a day.  Unmarked, a build is at worst
     * removed early and unpacked again, which is no reason not to run it now. */
    futimens(fd, NULL);
    if (fcntl(fd, F_SETFD, 0) != 0) {
        snprintf(b->why, sizeof b->why, "cannot keep the lock of %s: %s", b->target, strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}

int rundir_take(struct rundir_build *b)
{
    char lock[64];
    snprintf(lock, sizeof lock, "%s.lock", b->t->id);
    if (snprintf(b->target, sizeof b->target, "%s/%s", b->where, b->t->id) >= (int)sizeof b->target) {
        snprintf(b->why, sizeof b->why, "%s: path too long", b->where);
        return -1;
    }
    int fd = lock_ready(b, lock);
    if (fd != NOT_READY)
        return fd;
    if (install_build(b) != 0)
        return -1;
    clean(b->privfd, b->t->id);
    fd = lock_ready(b, lock);
    if (fd == NOT_READY) {
        snprintf(b->why, sizeof b->why, "the copy unpacked into %s does not match its manifest", b->target);
        return -1;
    }
    return fd;
}
