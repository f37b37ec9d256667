/*
 * The single file's bundle format, read by the launcher.  Its Python twin is
 * packaging/pack.py, which writes it: a change to one is a change to both.
 *
 * File layout: [launcher ELF][compressed payload][trailer]
 *   trailer (little-endian): u64 offset, u64 compressed length,
 *   u64 uncompressed length, char id[32] (NUL-padded build id), char magic[8]
 *   payload (zlib): entries of u8 type ('F' file, 'L' symlink), u32 mode,
 *   u32 path length, path, u64 data length, data (file bytes or symlink target)
 *
 * The launcher runs as root, so nothing read here is trusted: every length is
 * checked against what is left, and a path that could leave the directory it is
 * unpacked into is refused.
 */
#define _GNU_SOURCE
#include "bundle.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>
#include <zlib.h>

#include "rules.h"

#define MAGIC RULE_PACK_MAGIC
#define TRAILER_SIZE 64
#define ENTRY_HEAD 9 /* type, mode, path length */

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

int bundle_read_trailer(int fd, struct bundle_trailer *t)
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
    memcpy(t->id, raw + 24, BUNDLE_ID_MAX);
    t->id[BUNDLE_ID_MAX] = '\0';
    /* The id names a directory: lowercase hex only, so it can name nothing else. */
    if (strspn(t->id, "0123456789abcdef") != strlen(t->id))
        return -1;
    if (!t->id[0] || t->offset + t->clen + TRAILER_SIZE != (uint64_t)size)
        return -1;
    return 0;
}

unsigned char *bundle_payload(int fd, const struct bundle_trailer *t, char *why, size_t whylen)
{
    /* Never malloc(0), whose NULL would read as out of memory. */
    unsigned char *packed = malloc(t->clen ? t->clen : 1), *data = malloc(t->ulen ? t->ulen : 1);
    uLongf ulen = (uLongf)t->ulen;
    if (!packed || !data) {
        snprintf(why, whylen, "out of memory");
    } else if (pread(fd, packed, t->clen, (off_t)t->offset) != (ssize_t)t->clen) {
        snprintf(why, whylen, "cannot read the bundled program: %s", strerror(errno));
    } else if (uncompress(data, &ulen, packed, (uLong)t->clen) != Z_OK || ulen != t->ulen) {
        snprintf(why, whylen, BUNDLE_CORRUPT);
    } else {
        free(packed);
        return data;
    }
    free(packed);
    free(data);
    return NULL;
}

/* A path pack.py could have written: relative, and unable to climb out of where it goes. */
static int safe_path(const char *path, size_t len)
{
    return path[0] != '/' && !strstr(path, "..") && !memchr(path, 0, len);
}

int bundle_entry_at(const unsigned char *payload, size_t len, size_t *pos, struct bundle_entry *e)
{
    size_t at = *pos;
    if (len - at < ENTRY_HEAD)
        return -1;
    e->type = payload[at];
    e->mode = le32(payload + at + 1);
    uint32_t plen = le32(payload + at + 5);
    at += ENTRY_HEAD;
    if (len - at < (size_t)plen + 8 || plen == 0 || plen >= sizeof e->path)
        return -1;
    memcpy(e->path, payload + at, plen);
    e->path[plen] = '\0';
    at += plen;
    e->size = le64(payload + at);
    at += 8;
    if (len - at < e->size || !safe_path(e->path, plen))
        return -1;
    e->data = payload + at;
    *pos = at + e->size;
    return 0;
}
