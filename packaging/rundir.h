/* The runtime directory the single file is unpacked into and run from: see rundir.c. */
#ifndef RUNDIR_H
#define RUNDIR_H

#include <limits.h>
#include <stddef.h>

#include "bundle.h"

struct rundir_base {
    char path[PATH_MAX]; /* where this process's private directory goes */
    int explicit;        /* named by DOCKER_CREDENTIAL_ECR_RUNTIME_DIR */
};

/* Candidate private directories, most preferred first; returns the count. */
size_t rundir_candidates(struct rundir_base *out, size_t max);

/* Open the private directory: verified path, created if missing, ours, 0700-tight, exec.
 * Returns a directory descriptor and the resolved path (resolved holds PATH_MAX), or -1
 * with why (*untrusted set when the trusted-path rule refused it). */
int rundir_open(const char *path, char *resolved, char *why, size_t whylen, int *untrusted);

/* This build in one private directory.  The caller fills the first four; rundir_take the
 * rest.  Only the caller reports, so that every message is printed in one place. */
struct rundir_build {
    int self;                       /* the single file, read for its payload */
    const struct bundle_trailer *t; /* its trailer */
    int privfd;                     /* the private directory, from rundir_open */
    const char *where;              /* its resolved path, for messages */
    char target[PATH_MAX];          /* the build's directory, to run */
    char why[2 * PATH_MAX + 256];   /* why it cannot be run from here */
    char warning[PATH_MAX + 128];   /* if not empty, a damaged copy was found and replaced */
};

/* Make the build whole under b->privfd, unpacking it if needed, and lock it there for as
 * long as this process and the program it becomes run.  Returns that lock, which exec
 * keeps, with b->target set; or -1 with b->why. */
int rundir_take(struct rundir_build *b);

#endif
