/* The trusted-path rule (helper/docker_credential_ecr/trust.py), for the launcher: see trust.c. */
#ifndef TRUST_H
#define TRUST_H

#include <stddef.h>
#include <sys/types.h>

/* Resolve the absolute path `path` as the kernel would, verifying every directory
 * on the way (owned by root or euid, not writable by group or others unless
 * sticky) and every symlink followed (owned by root or euid); in a user namespace
 * that does not map root, its overflow uid counts as root's.  On success write
 * the resolved path to `out` and return 0; otherwise write why to `why` and
 * return -1.  Missing trailing components are accepted (created later). */
int trust_check_dir(const char *path, uid_t euid, char *out, size_t outlen, char *why, size_t whylen);

#endif
