/*
 * The trusted-path rule, as helper/docker_credential_ecr/trust.py states it: may anyone but this user and
 * root change what a directory holds?  The launcher runs as root on every pull and
 * executes, unpacks and deletes only under directories that pass it; the native cache
 * hit reads tokens only from one that passes it.
 *
 * The path is resolved component by component: each directory is opened with
 * O_NOFOLLOW under its verified parent and checked through its descriptor; a symlink
 * is followed only if root or the user owns it.  The messages are Python's, word for
 * word: tests/test_trust.py runs both on the same trees and compares.
 *
 * The functions are trust.py's walk, one for one, in its order and under its names
 * (trust_ where libc has the name or C cannot spell it), so that a change to either is made to the other in
 * the same place.  trust.py's make_dirs, check_file and first_trusted have no twin: the
 * launcher creates with make_missing and then checks again, and reads no files by name.
 */
#define _GNU_SOURCE
#include "trust.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define DIR_FLAGS (O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
#define MAX_SYMLINKS 40 /* as Linux's path resolution */
#define MAX_DEPTH 256
#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

struct walk {
    uid_t euid;
    const char *path; /* as given: the messages that are not about one component name it */
    char *why;
    size_t whylen;
    int links;
    int depth; /* fd[0] is /: Python's done[0] */
    int fd[MAX_DEPTH];
    size_t len[MAX_DEPTH]; /* length of `res` at each depth, for up to cut it back to */
    char res[PATH_MAX];
    char todo[2 * PATH_MAX]; /* Python's todo, as a string read from the front */
    char here[PATH_MAX + NAME_MAX + 2];
};

/* Declared first so that the definitions can keep trust.py's order. */
static int refuse(struct walk *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int trust_init(struct walk *w);
static void trust_close(struct walk *w);
static const char *here(struct walk *w, const char *part);
static int joined(struct walk *w, const char *rest, char *out, size_t outlen);
static void up(struct walk *w, int to);
static int resolve(struct walk *w, char *out, size_t outlen);
static int pop(struct walk *w, const char **todo, char *part, size_t size);
static int trust_lstat(struct walk *w, const char *part, struct stat *st);
static int follow(struct walk *w, const char *part, const struct stat *st, const char **todo);
static int enter(struct walk *w, const char *part);
static int check_fd(struct walk *w, int fd, const char *path);
static int why_not(struct walk *w, const struct stat *st, const char *path);
static int trusted_owner(uid_t uid, uid_t euid);
static long unmapped_root(void);
static long read_unmapped_root(void);

/* Twin of trust.py's UntrustedPath: C has no exceptions, so each caller passes the -1 on. */
static int refuse(struct walk *w, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(w->why, w->whylen, fmt, ap);
    va_end(ap);
    return -1;
}

/* Twin of trust.py's check_dir. */
int trust_check_dir(const char *path, uid_t euid, char *out, size_t outlen, char *why, size_t whylen)
{
    struct walk w = {.euid = euid, .path = path, .why = why, .whylen = whylen};
    if (path[0] != '/')
        return refuse(&w, "%s is not an absolute path", path);
    /* Python's todo grows as it must; this one cannot, so a path it cannot hold is
     * refused before anything is opened. */
    if (snprintf(w.todo, sizeof w.todo, "%s", path) >= (int)sizeof w.todo)
        return refuse(&w, "%s: path too long", path);
    if (trust_init(&w) != 0)
        return -1;
    int rc = resolve(&w, out, outlen);
    trust_close(&w);
    return rc;
}

/* Twin of trust.py's _Walk.__init__. */
static int trust_init(struct walk *w)
{
    w->fd[0] = open("/", DIR_FLAGS);
    if (w->fd[0] < 0)
        return refuse(w, "/: %s", strerror(errno));
    if (check_fd(w, w->fd[0], "/") != 0) {
        trust_close(w);
        return -1;
    }
    return 0;
}

/* Twin of trust.py's close. */
static void trust_close(struct walk *w)
{
    up(w, 0);
    close(w->fd[0]);
}

/* Twin of trust.py's here: the returned name lasts until the next call, as each caller needs. */
static const char *here(struct walk *w, const char *part)
{
    snprintf(w->here, sizeof w->here, "%s/%s", w->res, part);
    return w->here;
}

/* Twin of trust.py's joined. */
static int joined(struct walk *w, const char *rest, char *out, size_t outlen)
{
    /* n counts what the whole path needs, so that a path too long is refused below;
     * nothing is written, nor a pointer formed, past out's end. */
    int wrote = snprintf(out, outlen, "%s", w->res);
    size_t n = wrote < 0 ? outlen : (size_t)wrote;
    for (const char *p = rest; *p && n < outlen;) {
        p += strspn(p, "/");
        size_t len = strcspn(p, "/");
        if (len) {
            wrote = snprintf(out + n, outlen - n, "/%.*s", (int)len, p);
            n = wrote < 0 ? outlen : n + (size_t)wrote;
        }
        p += len;
    }
    if (n == 0)
        n = (size_t)snprintf(out, outlen, "/");
    if (n >= outlen)
        return refuse(w, "%s: path too long", w->path);
    return 0;
}

/* Twin of trust.py's up: / is never left, as the kernel resolves /.. to / itself. */
static void up(struct walk *w, int to)
{
    while (w->depth > to && w->depth > 0) {
        close(w->fd[w->depth]);
        w->depth--;
    }
    w->res[w->len[w->depth]] = '\0';
}

/* Twin of trust.py's resolve. */
static int resolve(struct walk *w, char *out, size_t outlen)
{
    char part[NAME_MAX + 1];
    const char *todo = w->todo;
    struct stat st;
    int len, rc;
    while ((len = pop(w, &todo, part, sizeof part)) > 0) {
        if (!strcmp(part, "..")) {
            up(w, w->depth - 1);
            continue;
        }
        if ((rc = trust_lstat(w, part, &st)) != 0)
            return rc < 0 ? -1 : joined(w, todo - len, out, outlen); /* the rest is created later */
        if (S_ISLNK(st.st_mode))
            rc = follow(w, part, &st, &todo);
        else if (S_ISDIR(st.st_mode))
            rc = enter(w, part);
        else
            return joined(w, todo - len, out, outlen); /* using it fails with its own error */
        if (rc != 0)
            return -1;
    }
    return len < 0 ? -1 : joined(w, "", out, outlen);
}

/* No twin: Python's todo is a list and todo.pop() is all it takes; this one is a string. */
static int pop(struct walk *w, const char **todo, char *part, size_t size)
{
    for (;;) {
        const char *p = *todo + strspn(*todo, "/");
        size_t len = strcspn(p, "/");
        *todo = p + len;
        if (len >= size)
            return refuse(w, "%s: name too long", w->path);
        memcpy(part, p, len);
        part[len] = '\0';
        /* Python's resolve skips "" and "." alike; "" never gets here, so "." is skipped with it. */
        if (strcmp(part, ".") != 0)
            return (int)len;
    }
}

/* Twin of trust.py's lstat, less its create (the launcher makes what is missing later): 1 if missing. */
static int trust_lstat(struct walk *w, const char *part, struct stat *st)
{
    if (fstatat(w->fd[w->depth], part, st, AT_SYMLINK_NOFOLLOW) == 0)
        return 0;
    if (errno == ENOENT)
        return 1;
    int err = errno; /* here's snprintf may set errno */
    return refuse(w, "%s: %s", here(w, part), strerror(err));
}

/* Twin of trust.py's follow. */
static int follow(struct walk *w, const char *part, const struct stat *st, const char **todo)
{
    const char *at = here(w, part);
    char target[PATH_MAX], rest[sizeof w->todo];
    if (++w->links > MAX_SYMLINKS)
        return refuse(w, "%s: too many levels of symbolic links", at);
    if (!trusted_owner(st->st_uid, w->euid))
        return refuse(w, "%s is a symlink owned by uid %u", at, (unsigned)st->st_uid);
    ssize_t n = readlinkat(w->fd[w->depth], part, target, sizeof target - 1);
    if (n < 0)
        return refuse(w, "%s changed while being checked", at);
    target[n] = '\0';
    if (snprintf(rest, sizeof rest, "%s/%s", target, *todo) >= (int)sizeof rest)
        return refuse(w, "%s: path too long", at);
    /* *todo points into w->todo: it is copied out before w->todo is overwritten. */
    memcpy(w->todo, rest, sizeof w->todo);
    *todo = w->todo;
    if (target[0] == '/')
        up(w, 0);
    return 0;
}

/* Twin of trust.py's enter. */
static int enter(struct walk *w, const char *part)
{
    const char *at = here(w, part);
    if ((size_t)w->depth + 1 >= COUNT(w->fd) || strlen(at) >= sizeof w->res)
        return refuse(w, "%s: path too long", at);
    int fd = openat(w->fd[w->depth], part, DIR_FLAGS);
    if (fd < 0)
        return refuse(w, "%s changed while being checked", at);
    w->depth++;
    w->fd[w->depth] = fd;
    w->len[w->depth] = strlen(at);
    memcpy(w->res, at, w->len[w->depth] + 1);
    /* Pushed before it is checked, as in Python: trust_close then closes it either way. */
    return check_fd(w, fd, at);
}

/* Twin of trust.py's check_fd. */
static int check_fd(struct walk *w, int fd, const char *path)
{
    struct stat st;
    if (fstat(fd, &st) != 0)
        return refuse(w, "%s: %s", path, strerror(errno));
    return why_not(w, &st, path);
}

/* Twin of trust.py's _why_not, with sticky_ok always true: only directories are checked here. */
static int why_not(struct walk *w, const struct stat *st, const char *path)
{
    if (!trusted_owner(st->st_uid, w->euid))
        return refuse(w, "%s is owned by uid %u", path, (unsigned)st->st_uid);
    mode_t loose = st->st_mode & 022;
    if (loose && !(st->st_mode & S_ISVTX)) {
        const char *who = loose == 020 ? "group" : loose == 002 ? "others" : "group and others";
        return refuse(w, "%s is writable by %s (mode %o)", path, who, (unsigned)(st->st_mode & 07777));
    }
    return 0;
}

/* Twin of trust.py's _trusted_owner. */
static int trusted_owner(uid_t uid, uid_t euid)
{
    return uid == 0 || uid == euid || (long)uid == unmapped_root();
}

/* Twin of trust.py's unmapped_root: -1 for None.  The launcher has one thread. */
static long unmapped_root(void)
{
    static int known;
    static long cached;
    if (!known) {
        cached = read_unmapped_root();
        known = 1;
    }
    return cached;
}

/* Twin of trust.py's _read_unmapped_root. */
static long read_unmapped_root(void)
{
    char line[128];
    unsigned long inside, outside, count;
    long overflow = -1;
    int mapped = 0;
    FILE *map = fopen("/proc/self/uid_map", "re");
    if (map == NULL)
        return -1;
    while (!mapped && fgets(line, sizeof line, map) != NULL)
        mapped = sscanf(line, "%lu %lu %lu", &inside, &outside, &count) == 3 && outside == 0;
    fclose(map);
    if (mapped)
        return -1; /* root is mapped: its files show as its uid here */
    FILE *uid = fopen("/proc/sys/kernel/overflowuid", "re");
    if (uid == NULL)
        return -1;
    if (fscanf(uid, "%ld", &overflow) != 1)
        overflow = -1;
    fclose(uid);
    return overflow;
}
