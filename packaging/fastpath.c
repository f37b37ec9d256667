/*
 * The launcher's native answer to the call Docker makes most: a `get` whose
 * token is in the cache and fresh.  It reads one file and prints, without
 * starting Python at all.
 *
 * It is a second implementation of a narrow slice of the Python helper
 * (in helper/docker_credential_ecr/: registry.py host_of and parse, config.py
 * identity_tag and the default cache directory, cache.py decode, token.py fresh,
 * protocol.py get output), so it is held to one rule: answer only when
 * the Python helper would give exactly the same answer, and otherwise leave
 * everything to it.  Any doubt (an unusual setting, non-ASCII input, a number
 * not in repr() form, a stale token) means "not mine".  The CLI tests run
 * against the binary, and tests/test_fastpath.py compares both answers on
 * generated inputs.
 */
#define _GNU_SOURCE
#include "fastpath.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "rules.h" /* generated from helper/ by packaging/gen_rules.py */
#include "trust.h"

#define APP RULE_APP
#define MAX_REQUEST 65536
#define READ_LIMIT (1 << 20)
#define COUNT(a) (sizeof(a) / sizeof *(a))

extern char **environ;

/* ---- SHA-256 (FIPS 180-4), for the identity tag ---- */

static const uint32_t K[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

#define ROR(x, n) (((x) >> (n)) | ((x) << (32 - (n))))

static void sha256_block(uint32_t h[8], const unsigned char *p)
{
    uint32_t w[64], a, b, c, d, e, f, g, k;
    for (int i = 0; i < 16; i++)
        w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 | (uint32_t)p[4 * i + 2] << 8 | p[4 * i + 3];
    for (int i = 16; i < 64; i++) {
        uint32_t s0 = ROR(w[i - 15], 7) ^ ROR(w[i - 15], 18) ^ (w[i - 15] >> 3);
        uint32_t s1 = ROR(w[i - 2], 17) ^ ROR(w[i - 2], 19) ^ (w[i - 2] >> 10);
        w[i] = w[i - 16] + s0 + w[i - 7] + s1;
    }
    a = h[0], b = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], k = h[7];
    for (int i = 0; i < 64; i++) {
        uint32_t t1 = k + (ROR(e, 6) ^ ROR(e, 11) ^ ROR(e, 25)) + ((e & f) ^ (~e & g)) + K[i] + w[i];
        uint32_t t2 = (ROR(a, 2) ^ ROR(a, 13) ^ ROR(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
        k = g, g = f, f = e, e = d + t1, d = c, c = b, b = a, a = t1 + t2;
    }
    h[0] += a, h[1] += b, h[2] += c, h[3] += d, h[4] += e, h[5] += f, h[6] += g, h[7] += k;
}

/* Write the first 16 hex digits of SHA-256(data) to out (17 bytes). */
static void sha256_tag(const unsigned char *data, size_t len, char out[17])
{
    uint32_t h[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                     0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
    unsigned char block[64];
    size_t done = 0;
    for (; len - done >= 64; done += 64)
        sha256_block(h, data + done);
    size_t rest = len - done;
    memset(block, 0, sizeof block);
    memcpy(block, data + done, rest);
    block[rest] = 0x80;
    if (rest >= 56) {
        sha256_block(h, block);
        memset(block, 0, sizeof block);
    }
    uint64_t bits = (uint64_t)len * 8;
    for (int i = 0; i < 8; i++)
        block[63 - i] = (unsigned char)(bits >> (8 * i));
    sha256_block(h, block);
    for (int i = 0; i < 8; i++)
        snprintf(out + 2 * i, 3, "%02x", (unsigned)(h[i / 4] >> (24 - 8 * (i % 4))) & 0xff);
    out[16] = '\0';
}

/* ---- the settings this path understands ---- */

static int join(char *out, size_t size, const char *dir, const char *rest);

/* Only a plain environment is ours: any setting of the helper's own (which
 * Python would validate, or which asks for logging) or a disabled cache is not. */
static int plain_environment(void)
{
    for (char **e = environ; *e; e++) {
        if (!strncmp(*e, RULE_ENV_PREFIX, strlen(RULE_ENV_PREFIX)) &&
            strncmp(*e, RULE_ENV_PREFIX "RUNTIME_DIR=", strlen(RULE_ENV_PREFIX "RUNTIME_DIR=")))
            return 0;
        if (!strncmp(*e, "AWS_ECR_DISABLE_CACHE=", 22) && (*e)[22])
            return 0;
    }
    return 1;
}

/* A configuration file may change the identity, alias or cache of any host: not ours. */
static int no_config_file(void)
{
    char path[4096];
    struct stat st;
    const char *v;
    if (lstat(RULE_SYSTEM_CONFIG, &st) == 0 || errno != ENOENT)
        return 0;
    if ((v = getenv("XDG_CONFIG_HOME")) && *v == '/') {
        if (join(path, sizeof path, v, RULE_USER_CONFIG) != 0)
            return 0;
    } else if ((v = getenv("HOME")) && *v == '/') {
        if (join(path, sizeof path, v, ".config/" RULE_USER_CONFIG) != 0)
            return 0;
    } else {
        return 1;
    }
    return lstat(path, &st) != 0 && errno == ENOENT;
}

/* Append "NAME=value" to the identity buffer, NUL-separated as Python joins them. */
static int add_line(unsigned char *buf, size_t size, size_t *len, const char *name, const char *sep,
                    const char *value)
{
    size_t nlen = strlen(name), slen = strlen(sep), vlen = strlen(value);
    if (*len + 1 + nlen + slen + vlen > size)
        return -1;
    if (*len)
        buf[(*len)++] = '\0';
    memcpy(buf + *len, name, nlen);
    memcpy(buf + *len + nlen, sep, slen);
    memcpy(buf + *len + nlen + slen, value, vlen);
    *len += nlen + slen + vlen;
    return 0;
}

/* config.file_identity: "dev:ino:size:mtime_ns" of the AWS file botocore would read, or
 * RULE_IDENTITY_ABSENT; -1 when only Python can tell which file that is.  Python keys
 * on what awsfiles lets botocore read: where it refuses a file, its key differs from
 * this one, so this path finds nothing and Python answers. */
static int file_identity(const char *name, const char *fallback, char *out, size_t size)
{
    const char *v = getenv(name), *home = getenv("HOME");
    char path[PATH_MAX];
    if (!v || !*v)
        v = fallback;
    if (!strncmp(v, "~/", 2) && home && *home == '/') {
        if (snprintf(path, sizeof path, "%s%s", home, v + 1) >= (int)sizeof path)
            return -1;
    } else if (*v == '~' || strchr(v, '$')) {
        return -1; /* expanduser/expandvars: Python's business */
    } else if (snprintf(path, sizeof path, "%s", v) >= (int)sizeof path) {
        return -1;
    }
    struct stat st;
    if (stat(path, &st) != 0 || !S_ISREG(st.st_mode)) { /* botocore's isfile */
        snprintf(out, size, "%s", RULE_IDENTITY_ABSENT);
        return 0;
    }
    long long mtime_ns = (long long)st.st_mtim.tv_sec * 1000000000LL + st.st_mtim.tv_nsec;
    int n = snprintf(out, size, "%llu:%llu:%lld:%lld", (unsigned long long)st.st_dev,
                     (unsigned long long)st.st_ino, (long long)st.st_size, mtime_ns);
    return n < 0 || (size_t)n >= size ? -1 : 0;
}

/* config.Settings.identity_tag: "default", or a hash of the identity lines joined by NUL. */
static int identity_tag(char out[17])
{
    unsigned char buf[16384];
    size_t len = 0;
    int any = 0;
    for (size_t i = 0; i < COUNT(RULE_IDENTITY_VARIABLES); i++) {
        const char *v = getenv(RULE_IDENTITY_VARIABLES[i]);
        v = v ? v : "";
        any |= *v != '\0';
        if (add_line(buf, sizeof buf, &len, RULE_IDENTITY_VARIABLES[i], "=", v) != 0)
            return -1;
    }
    for (size_t i = 0; i < COUNT(RULE_IDENTITY_FILE_VARIABLES); i++) {
        char id[128];
        if (file_identity(RULE_IDENTITY_FILE_VARIABLES[i], RULE_IDENTITY_FILE_DEFAULTS[i], id, sizeof id) != 0 ||
            add_line(buf, sizeof buf, &len, RULE_IDENTITY_FILE_VARIABLES[i], "#stat=", id) != 0)
            return -1;
        any |= strcmp(id, RULE_IDENTITY_ABSENT) != 0;
    }
    if (!any) {
        strcpy(out, "default");
        return 0;
    }
    sha256_tag(buf, len, out);
    return 0;
}

static int join(char *out, size_t size, const char *dir, const char *rest)
{
    size_t n = strlen(dir);
    int w = snprintf(out, size, "%s%s%s", dir, n && dir[n - 1] == '/' ? "" : "/", rest);
    return w < 0 || (size_t)w >= size ? -1 : 0;
}

/* config.cache_dirs' first choice, resolved; only when it passes the trusted-path rule
 * (else Python picks the next choice and says why). */
static int cache_dir(char *out, size_t size)
{
    char preferred[PATH_MAX], why[PATH_MAX + 256];
    const char *v = getenv("AWS_ECR_CACHE_DIR");
    int rc;
    if (v && *v)
        rc = snprintf(preferred, sizeof preferred, "%s", v) < (int)sizeof preferred ? 0 : -1;
    else if ((v = getenv("XDG_CACHE_HOME")) && *v == '/')
        rc = join(preferred, sizeof preferred, v, APP);
    else if ((v = getenv("HOME")) && *v == '/')
        rc = join(preferred, sizeof preferred, v, ".cache/" APP);
    else
        return -1; /* Python would ask the password database: its business */
    return rc == 0 ? trust_check_dir(preferred, geteuid(), out, size, why, sizeof why) : -1;
}

/* ---- the request ---- */

/* Python's str.isspace() for ASCII. */
static int space(unsigned char c)
{
    return c == ' ' || (c >= '\t' && c <= '\r') || (c >= 0x1c && c <= 0x1f);
}

/* registry.host_of: host without scheme, path, credentials, port, trailing dots; lower case. */
static int host_of(const char *url, char *out, size_t size)
{
    const char *rest = strstr(url, "://");
    rest = rest ? rest + 3 : url;
    size_t end = strcspn(rest, "/");
    const char *at = NULL;
    for (size_t i = 0; i < end; i++)
        if (rest[i] == '@')
            at = rest + i;
    const char *start = at ? at + 1 : rest;
    size_t len = (size_t)(rest + end - start);
    if (len && *start == '[')
        return -1; /* an IPv6 literal is never ECR */
    const char *colon = memchr(start, ':', len);
    if (colon)
        len = (size_t)(colon - start);
    while (len && start[len - 1] == '.')
        len--;
    if (len == 0 || len >= size)
        return -1;
    for (size_t i = 0; i < len; i++)
        out[i] = (char)((start[i] >= 'A' && start[i] <= 'Z') ? start[i] + 32 : start[i]);
    out[len] = '\0';
    return 0;
}

static int in(const char *s, const char *const *set, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!strcmp(s, set[i]))
            return 1;
    return 0;
}

/* registry._is_region, for the len bytes at label. */
static int is_region(const char *label, size_t len)
{
    return memchr(label, '-', len) && label[0] != '-' && label[len - 1] != '-' &&
           strspn(label, RULE_REGION_CHARS) == len;
}

/* registry.parse, as a yes/no: is host an ECR registry? */
static int ecr_host(const char *host)
{
    if (in(host, RULE_PUBLIC_HOSTS, COUNT(RULE_PUBLIC_HOSTS)))
        return 1;
    size_t account = strcspn(host, ".");
    const char *rest = host + account + (host[account] == '.');
    if (account != RULE_ACCOUNT_DIGITS || strspn(host, "0123456789") < account)
        return 0;
    for (size_t i = 0; i < COUNT(RULE_FORMS); i++) {
        const struct rule_form *form = &RULE_FORMS[i];
        size_t skip = strlen(form->prefix);
        if (strncmp(rest, form->prefix, skip) != 0)
            continue;
        const char *region = rest + skip;
        size_t len = strcspn(region, ".");
        const char *dns_suffix = region + len + (region[len] == '.');
        if (in(dns_suffix, form->suffixes, form->suffix_count) && is_region(region, len))
            return 1;
    }
    return 0;
}

/* ---- the cache file ---- */

/* A number exactly as Python's repr(float) writes a finite one. */
static int repr_float(const char *s, double *out)
{
    const char *p = s;
    if (*p == '-')
        p++;
    size_t digits = strspn(p, "0123456789");
    if (!digits)
        return -1;
    p += digits;
    if (*p == '.') {
        p++;
        if (!(digits = strspn(p, "0123456789")))
            return -1;
        p += digits;
    }
    if (*p == 'e') {
        p++;
        if (*p == '+' || *p == '-')
            p++;
        if (!(digits = strspn(p, "0123456789")))
            return -1;
        p += digits;
    }
    if (*p)
        return -1;
    char *end;
    errno = 0;
    *out = strtod(s, &end);
    return *end || errno ? -1 : 0;
}

static int ascii(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] >= 0x80 || s[i] == '\0')
            return 0;
    return 1;
}

struct token {
    char *user, *secret;
    double requested, expires;
};

/* cache.decode plus files.read_private; the buffer keeps the strings. */
static int read_token(const char *path, char *buf, size_t size, struct token *t)
{
    /* O_NONBLOCK: a FIFO planted at the path must not hang the open; fstat rejects it. */
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0)
        return -1;
    struct stat st;
    ssize_t n = -1;
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_uid == geteuid() && !(st.st_mode & 077) &&
        st.st_size > 0 && st.st_size <= READ_LIMIT && (size_t)st.st_size < size)
        n = read(fd, buf, size - 1);
    close(fd);
    if (n <= 0 || n != st.st_size || !ascii(buf, (size_t)n))
        return -1;
    buf[n] = '\0';
    char *field[7];
    int count = 0;
    for (char *p = buf;; p++) {
        field[count++] = p;
        p = strchr(p, '\n');
        if (!p || count == 7)
            break;
        *p = '\0';
    }
    /* Exactly six lines, each ended by a newline: seven fields, the last empty. */
    if (count != 7 || *field[6] != '\0' || strchr(field[6], '\n'))
        return -1;
    if (strcmp(field[0], RULE_TOKEN_MAGIC) || repr_float(field[1], &t->requested) || repr_float(field[2], &t->expires))
        return -1;
    t->user = field[3];
    t->secret = field[4];
    if (!*t->secret || !(t->expires > t->requested))
        return -1;
    return 0;
}

/* ---- the answer ---- */

static void put_json_string(FILE *out, const char *s)
{
    fputc('"', out);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            fprintf(out, "\\%c", c);
        else if (c < 0x20)
            fprintf(out, "\\u%04x", c);
        else
            fputc(c, out);
    }
    fputc('"', out);
}

/* Give the consumed request back on stdin for the Python helper. */
static int restore_stdin(off_t start, const char *data, size_t len)
{
    if (start >= 0 && lseek(0, start, SEEK_SET) == start)
        return 0;
    int fd = memfd_create("request", MFD_CLOEXEC);
    if (fd >= 0) {
        if (write(fd, data, len) == (ssize_t)len && lseek(fd, 0, SEEK_SET) == 0 && dup2(fd, 0) == 0) {
            close(fd);
            return 0;
        }
        close(fd);
    }
    int p[2];
    if (len <= 65536 && pipe(p) == 0) {
        /* A pipe holds 64 KiB on every Linux since 2.6.11. */
        if (write(p[1], data, len) == (ssize_t)len && dup2(p[0], 0) == 0) {
            close(p[0]);
            close(p[1]);
            return 0;
        }
        close(p[0]);
        close(p[1]);
    }
    return -1;
}

int fastpath_get(int argc, char **argv)
{
    if (argc != 2 || strcmp(argv[1], "get") != 0)
        return FASTPATH_DECLINED;

    static char request[MAX_REQUEST + 2];
    size_t len = 0;
    off_t start = lseek(0, 0, SEEK_CUR); /* a file can simply be rewound afterwards */
    for (;;) {
        ssize_t n = read(0, request + len, sizeof request - 1 - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            /* A non-blocking stdin with nothing yet: wait for the rest, as a blocking read would. */
            struct pollfd p = {.fd = 0, .events = POLLIN};
            if (poll(&p, 1, -1) >= 0 || errno == EINTR)
                continue;
        }
        if (n < 0) {
            if (len == 0)
                return FASTPATH_DECLINED; /* nothing consumed: Python meets the same error */
            /* Handing Python only part of the request would answer a different one. */
            fprintf(stdout, APP ": cannot read the request on stdin: %s\n", strerror(errno));
            fflush(stdout);
            return 1;
        }
        if (n == 0 || (len += (size_t)n) == sizeof request - 1)
            break;
    }
    request[len] = '\0';
    int answer = FASTPATH_DECLINED;

    char tag[17], dir[4096], host[256], path[8192], buf[8192];
    static char url[MAX_REQUEST + 2];
    struct token t;
    const char *from = request, *end = request + len;
    while (from < end && space((unsigned char)*from))
        from++;
    while (end > from && space((unsigned char)end[-1]))
        end--;
    /* A trimmed copy: the request itself must stay intact for Python. */
    memcpy(url, from, (size_t)(end - from));
    url[end - from] = '\0';
    struct timespec now;
    if (len <= MAX_REQUEST && from < end && ascii(url, (size_t)(end - from)) && plain_environment() &&
        no_config_file() &&
        identity_tag(tag) == 0 && cache_dir(dir, sizeof dir) == 0 && host_of(url, host, sizeof host) == 0 &&
        ecr_host(host) &&
        snprintf(path, sizeof path, "%s/%s" RULE_KEY_SEPARATOR "%s" RULE_TOKEN_SUFFIX, dir, host, tag) <
            (int)sizeof path &&
        read_token(path, buf, sizeof buf, &t) == 0 && clock_gettime(CLOCK_REALTIME, &now) == 0) {
        double seconds = (double)now.tv_sec + (double)now.tv_nsec / 1e9;
        /* token.AuthToken.fresh, with the default refresh window */
        if (seconds < t.expires - (t.expires - t.requested) * RULE_REFRESH_FRACTION) {
            fputs("{\"ServerURL\":", stdout);
            put_json_string(stdout, url);
            fputs(",\"Username\":", stdout);
            put_json_string(stdout, t.user);
            fputs(",\"Secret\":", stdout);
            put_json_string(stdout, t.secret);
            fputs("}\n", stdout);
            answer = fflush(stdout) == 0 ? 0 : 1;
        }
    }
    if (answer == FASTPATH_DECLINED && restore_stdin(start, request, len) != 0) {
        fputs(APP ": cannot pass the request on stdin along\n", stdout);
        fflush(stdout);
        return 1;
    }
    return answer;
}
