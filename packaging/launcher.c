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
 * Single-file form: this launcher is followed by the bundle, compressed (its
 * format: bundle.c).  On first use it is unpacked, once per build, into a
 * private runtime directory that allows executing programs; later runs check
 * that copy and run it (rundir.c).
 *
 * It runs as root on every pull, so what it executes, unpacks into and deletes
 * is held to the trusted-path rule (trust.c): every directory on the way is
 * owned by root or the user and writable by no one else.
 *
 * Errors are one line on stdout and exit status 1, as Docker expects of a
 * credential helper; warnings are one line on stderr.  Only this file prints
 * them; the others say why in a buffer.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bundle.h"
#include "fastpath.h"
#include "rules.h"
#include "rundir.h"
#include "trust.h"

#define NAME RULE_APP
#define PROGRAM NAME ".bin"
#define LOADER "_internal/glibc/" RULE_LOADER
#define LIBPATH_FMT "%s/_internal/glibc:%s/_internal"
#define COUNT(a) (sizeof(a) / sizeof *(a))

/* This executable's real path, for the program to run itself again (background refresh). */
static const char *self_exe = "";

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

static void run(const char *target, int argc, char **argv) __attribute__((noreturn));
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

/* Folder form: the bundle is beside this launcher, and run only from where no one but root
 * and this user can change it.  open_errno is why this executable could not be opened, or 0. */
static void run_folder(char *me, int open_errno, int argc, char **argv) __attribute__((noreturn));
static void run_folder(char *me, int open_errno, int argc, char **argv)
{
    char *slash = strrchr(me, '/'), folder[PATH_MAX], why[PATH_MAX + 256];
    *slash = '\0';
    if (slash > me && ready_folder(me)) {
        if (trust_check_dir(me, geteuid(), folder, sizeof folder, why, sizeof why) != 0)
            fail("not running the program in %s: %s; install it where only root can write", me, why);
        run(folder, argc, argv);
    }
    *slash = '/';
    /* Executable but unreadable (mode 0711, or a directory the user cannot read). */
    if (open_errno)
        fail("cannot read %s, which this user must be able to read to run it: %s", me, strerror(open_errno));
    fail("%s is damaged: its bundled program is missing or truncated", me);
}

/* Open one candidate, or say why not: fatal for the one the user named, a warning when the
 * trusted-path rule refused it (the user can fix that), and listed in tried. */
static int open_base(const struct rundir_base *base, char *resolved, char *tried, size_t triedlen)
{
    char why[2 * PATH_MAX + 256] = "";
    int untrusted;
    int privfd = rundir_open(base->path, resolved, why, sizeof why, &untrusted);
    if (privfd >= 0)
        return privfd;
    if (base->explicit)
        fail(RULE_ENV_PREFIX "RUNTIME_DIR=%s cannot be used: %s", getenv(RULE_ENV_PREFIX "RUNTIME_DIR"), why);
    if (untrusted)
        warn("not running from %s: %s; set " RULE_ENV_PREFIX "RUNTIME_DIR to a directory only you "
             "and root can write",
             base->path, why);
    size_t used = strlen(tried);
    snprintf(tried + used, triedlen - used, "%s%s", used ? ", " : "", base->path);
    return -1;
}

/* Run this build from b's private directory, unpacking it first if needed.  Returns only on
 * failure, with b->why. */
static void run_build(struct rundir_build *b, int argc, char **argv)
{
    int lock = rundir_take(b);
    if (b->warning[0])
        warn("%s", b->warning);
    if (lock < 0)
        return;
    close(b->self);
    run(b->target, argc, argv);
}

/* Single-file form: the first usable candidate wins: run its copy, or unpack one there. */
static void run_single(int self, const struct bundle_trailer *t, int argc, char **argv)
    __attribute__((noreturn));
static void run_single(int self, const struct bundle_trailer *t, int argc, char **argv)
{
    struct rundir_base bases[8];
    char resolved[PATH_MAX], failed[3 * PATH_MAX + 256] = "", tried[4096] = "";
    size_t n = rundir_candidates(bases, COUNT(bases));
    for (size_t i = 0; i < n; i++) {
        struct rundir_build b = {.self = self, .t = t, .where = resolved};
        b.privfd = open_base(&bases[i], resolved, tried, sizeof tried);
        if (b.privfd < 0)
            continue;
        run_build(&b, argc, argv);
        /* A full or failing disk: try the next candidate, report this if none works. */
        close(b.privfd);
        if (bases[i].explicit)
            fail("cannot unpack into %s: %s", resolved, b.why);
        snprintf(failed, sizeof failed, "cannot unpack into %s: %s", resolved, b.why);
    }
    if (failed[0])
        fail("%s", failed);
    fail("no directory to unpack into that allows running programs and that only this user and "
         "root can write (tried %s); set " RULE_ENV_PREFIX "RUNTIME_DIR to one, e.g. /var/lib/" NAME,
         tried);
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

    struct bundle_trailer t;
    char me[PATH_MAX];
    if (self_path(argc > 0 ? argv[0] : NAME, me) != 0)
        fail("cannot find this executable's own path: %s", strerror(errno));
    /* me is cut at its last slash in the folder form; the program gets it whole. */
    static char me_copy[PATH_MAX];
    memcpy(me_copy, me, sizeof me_copy);
    self_exe = me_copy;
    int self = open(me, O_RDONLY | O_CLOEXEC);
    int open_errno = errno;
    if (self < 0)
        run_folder(me, open_errno, argc, argv);
    if (bundle_read_trailer(self, &t) != 0)
        run_folder(me, 0, argc, argv);
    run_single(self, &t, argc, argv);
}
