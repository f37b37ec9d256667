/* The single file's bundle format, which packaging/pack.py writes: see bundle.c. */
#ifndef BUNDLE_H
#define BUNDLE_H

#include <stddef.h>
#include <stdint.h>

#define BUNDLE_ID_MAX 32 /* hex digits of a build id, the name of its runtime copy */
#define BUNDLE_FILE 'F'
#define BUNDLE_SYMLINK 'L'
/* Every way the payload can fail to be what pack.py wrote gets the same message: the user
 * can do nothing about one that another would not also need. */
#define BUNDLE_CORRUPT "the bundled program is corrupt"

struct bundle_trailer {
    uint64_t offset, clen, ulen; /* where the compressed payload is, its length and inflated length */
    char id[BUNDLE_ID_MAX + 1];
};

/* One payload entry; its data points into the payload it was read from. */
struct bundle_entry {
    unsigned char type; /* BUNDLE_FILE, BUNDLE_SYMLINK, or unknown (for the caller to refuse) */
    uint32_t mode;
    char path[1024];           /* relative, non-empty, no "..", no NUL */
    const unsigned char *data; /* the file's bytes or the symlink's target */
    uint64_t size;
};

/* Read the trailer at the end of the open single file fd.  Returns -1 when there is none,
 * or it does not describe this file (the folder form has none). */
int bundle_read_trailer(int fd, struct bundle_trailer *t);

/* The payload of fd inflated, t->ulen bytes, for the caller to free; or NULL with why. */
unsigned char *bundle_payload(int fd, const struct bundle_trailer *t, char *why, size_t whylen);

/* Read the entry at *pos of the payload, moving *pos past it.  Returns -1 if the payload is
 * corrupt there. */
int bundle_entry_at(const unsigned char *payload, size_t len, size_t *pos, struct bundle_entry *e);

#endif
