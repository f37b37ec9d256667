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
 */
#define _GNU_SOURCE
#include "trust.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_SYMLINKS 40
#define MAX_DEPTH 256

struct walk {
    int fd[MAX_DEPTH];
    size_t len[MAX_DEPTH]; /* length of `res` at each depth */
    int depth;
    char res[PATH_MAX];
};

static void pop_to(struct walk *w, int depth)
{
    while (w->depth > depth) {
        close(w->fd[w->depth]);
        w->depth--;
    }
    w->res[w->len[w->depth]] = '\0';
}

static int verify(int fd, const char *path, uid_t euid, char *why, size_t whylen)
{
    struct stat st;
    if (fstat(fd, &st) != 0) {
        snprintf(why, whylen, "%s: %s", path, strerror(errno));
        return -1;
    }
    if (st.st_uid != 0 && st.st_uid != euid) {
        snprintf(why, whylen, "%s is owned by uid %u", path, (unsigned)st.st_uid);
        return -1;
    }
    if ((st.st_mode & 022) && !(st.st_mode & S_ISVTX)) {
        mode_t w = st.st_mode & 022;
        const char *who = w == 020 ? "group" : w == 002 ? "others" : "group and others";
        snprintf(why, whylen, "%s is writable by %s (mode %o)", path, who, (unsigned)(st.st_mode & 07777));
        return -1;
    }
    return 0;
}

/* The resolved path so far, then `rest` (components not walked), without empty ones. */
static int finish(struct walk *w, const char *rest, char *out, size_t outlen)
{
    int n = snprintf(out, outlen, "%s", w->res[0] ? w->res : "");
    for (const char *p = rest; *p;) {
        while (*p == '/')
            p++;
        size_t len = strcspn(p, "/");
        if (len)
            n += snprintf(out + n, (size_t)n < outlen ? outlen - (size_t)n : 0, "/%.*s", (int)len, p);
        p += len;
    }
    if (n == 0)
        n = snprintf(out, outlen, "/");
    return n < 0 || (size_t)n >= outlen ? -1 : 0;
}

int trust_check_dir(const char *path, uid_t euid, char *out, size_t outlen, char *why, size_t whylen)
{
    char pending[2 * PATH_MAX], here[PATH_MAX + NAME_MAX + 2], target[PATH_MAX];
    struct walk w = {.depth = 0, .len = {0}, .res = ""};
    int links = 0, rc = -1;
    if (path[0] != '/') {
        snprintf(why, whylen, "%s is not an absolute path", path);
        return -1;
    }
    if (snprintf(pending, sizeof pending, "%s", path) >= (int)sizeof pending) {
        snprintf(why, whylen, "%s: path too long", path);
        return -1;
    }
    w.fd[0] = open("/", O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (w.fd[0] < 0) {
        snprintf(why, whylen, "/: %s", strerror(errno));
        return -1;
    }
    if (verify(w.fd[0], "/", euid, why, whylen) != 0)
        goto out;
    char *p = pending;
    for (;;) {
        while (*p == '/')
            p++;
        if (!*p)
            break;
        size_t len = strcspn(p, "/");
        char part[NAME_MAX + 1];
        if (len > NAME_MAX) {
            snprintf(why, whylen, "%s: name too long", path);
            goto out;
        }
        memcpy(part, p, len);
        part[len] = '\0';
        p += len;
        if (!strcmp(part, "."))
            continue;
        if (!strcmp(part, "..")) {
            if (w.depth > 0)
                pop_to(&w, w.depth - 1);
            continue;
        }
        snprintf(here, sizeof here, "%s/%s", w.res, part);
        struct stat st;
        if (fstatat(w.fd[w.depth], part, &st, AT_SYMLINK_NOFOLLOW) != 0) {
            if (errno != ENOENT) {
                snprintf(why, whylen, "%s: %s", here, strerror(errno));
                goto out;
            }
            /* The rest is created later by the helper itself. */
            p -= len;
            rc = finish(&w, p, out, outlen);
            goto out;
        }
        if (S_ISLNK(st.st_mode)) {
            if (++links > MAX_SYMLINKS) {
                snprintf(why, whylen, "%s: too many levels of symbolic links", here);
                goto out;
            }
            if (st.st_uid != 0 && st.st_uid != euid) {
                snprintf(why, whylen, "%s is a symlink owned by uid %u", here, (unsigned)st.st_uid);
                goto out;
            }
            ssize_t n = readlinkat(w.fd[w.depth], part, target, sizeof target - 1);
            if (n < 0) {
                snprintf(why, whylen, "%s changed while being checked", here);
                goto out;
            }
            target[n] = '\0';
            char rest[2 * PATH_MAX];
            if (snprintf(rest, sizeof rest, "%s/%s", target, p) >= (int)sizeof rest) {
                snprintf(why, whylen, "%s: path too long", here);
                goto out;
            }
            memcpy(pending, rest, sizeof pending);
            p = pending;
            if (target[0] == '/')
                pop_to(&w, 0);
            continue;
        }
        if (!S_ISDIR(st.st_mode)) {
            /* Not a directory: using the path fails with its own error. */
            p -= len;
            rc = finish(&w, p, out, outlen);
            goto out;
        }
        if (w.depth + 1 >= MAX_DEPTH || strlen(here) >= sizeof w.res) {
            snprintf(why, whylen, "%s: path too long", here);
            goto out;
        }
        int fd = openat(w.fd[w.depth], part, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0) {
            snprintf(why, whylen, "%s changed while being checked", here);
            goto out;
        }
        w.depth++;
        w.fd[w.depth] = fd;
        memcpy(w.res, here, strlen(here) + 1);
        w.len[w.depth] = strlen(w.res);
        if (verify(fd, here, euid, why, whylen) != 0)
            goto out;
    }
    rc = finish(&w, "", out, outlen);
    if (rc != 0)
        snprintf(why, whylen, "%s: path too long", path);
out:
    pop_to(&w, 0);
    close(w.fd[0]);
    return rc;
}
