/*
 * The launcher's native answer to the call Docker makes most: a `get` whose
 * token is in the cache and fresh.  It reads one file and prints, without
 * starting Python at all.
 *
 * It is a second implementation of a narrow slice of the Python helper
 * (in helper/docker_credential_ecr/: registry.py host_of and parse, config.py
 * identity_tag and the default cache directory, files.py read_private, cache.py
 * decode, token.py fresh, protocol.py json_string), so it is held to one rule:
 * answer only when the Python helper would give exactly the same answer, and
 * otherwise leave everything to it.  Any doubt (an unusual setting, non-ASCII
 * input, a number not in repr() form, a stale token) means "not mine".  The CLI
 * tests run against the binary, and tests/test_fastpath.py compares both answers
 * on generated inputs.
 *
 * Each function that twins a Python one has its name and layout and says "twin
 * of module.name", so that the two can be read side by side; the Python side
 * names its C twin in its docstring.  A change to one is a change to both.
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
/* A pipe holds 64 KiB on every Linux since 2.6.11. */
#define PIPE_CAPACITY 65536
#define COUNT(a) (sizeof(a) / sizeof *(a))

extern char **environ;

/* ---- SHA-256 (FIPS 180-4), for the identity tag ---- */

static const uint32_t K[] = {
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
    uint32_t w[COUNT(K)], a, b, c, d, e, f, g, k;
    for (int i = 0; i < 16; i++)
        w[i] = (uint32_t)p[4 * (size_t)i] << 24 | (uint32_t)p[4 * (size_t)i + 1] << 16 |
               (uint32_t)p[4 * (size_t)i + 2] << 8 | p[4 * (size_t)i + 3];
    for (size_t i = 16; i < COUNT(w); i++) {
        uint32_t s0 = ROR(w[i - 15], 7) ^ ROR(w[i - 15], 18) ^ (w[i - 15] >> 3);
        uint32_t s1 = ROR(w[i - 2], 17) ^ ROR(w[i - 2], 19) ^ (w[i - 2] >> 10);
        w[i] = w[i - 16] + s0 + w[i - 7] + s1;
    }
    a = h[0], b = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], k = h[7];
    for (size_t i = 0; i < COUNT(K); i++) {
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
        snprintf(out + 2 * (size_t)i, 3, "%02x", (unsigned)(h[i / 4] >> (24 - 8 * (i % 4))) & 0xff);
    out[16] = '\0';
}

/* ---- the settings this path understands ---- */

static int join(char *out, size_t size, const char *dir, const char *rest);

/* Only a plain environment is ours: any setting of the helper's own (which
 * Python would validate, or which asks for logging) or a disabled cache is not. */
static int plain_environment(void)
{
    static const char runtime_dir[] = RULE_ENV_PREFIX "RUNTIME_DIR=",
                      no_cache[] = RULE_DISABLE_CACHE_VARIABLE "=";
    for (char **e = environ; *e; e++) {
        if (!strncmp(*e, RULE_ENV_PREFIX, strlen(RULE_ENV_PREFIX)) &&
            strncmp(*e, runtime_dir, strlen(runtime_dir)) != 0)
            return 0;
        if (!strncmp(*e, no_cache, strlen(no_cache)) && (*e)[strlen(no_cache)])
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
    if ((v = getenv(RULE_XDG_CONFIG_VARIABLE)) && *v == '/') {
        if (join(path, sizeof path, v, RULE_USER_CONFIG) != 0)
            return 0;
    } else if ((v = getenv("HOME")) && *v == '/') {
        if (join(path, sizeof path, v, RULE_XDG_CONFIG_DEFAULT "/" RULE_USER_CONFIG) != 0)
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

/* twin of config.expand_user; -1 where only Python can tell (password database, expandvars) */
static int expand_user(const char *path, char *out, size_t size)
{
    const char *home = getenv("HOME");
    int n;
    if (strchr(path, '$')) /* expandvars first, wherever the $ is */
        return -1;
    if (!strncmp(path, "~/", 2) && home && *home == '/')
        n = snprintf(out, size, "%s%s", home, path + 1);
    else if (*path == '~')
        return -1;
    else
        n = snprintf(out, size, "%s", path);
    return n < 0 || (size_t)n >= size ? -1 : 0;
}

/* twin of config.file_identity; -1 when only Python can tell which file that is */
static int file_identity(const char *name, const char *fallback, char *out, size_t size)
{
    const char *v = getenv(name);
    char path[PATH_MAX];
    struct stat st;
    int n;
    if (expand_user(v && *v ? v : fallback, path, sizeof path) != 0)
        return -1;
    /* Python keys on what awsfiles lets botocore read: where it refuses a file, its key
     * differs from this one, so this path finds nothing and Python answers. */
    if (stat(path, &st) != 0 || !S_ISREG(st.st_mode)) /* botocore's isfile */
        n = snprintf(out, size, "%s", RULE_IDENTITY_ABSENT);
    else
        n = snprintf(out, size, "%llu:%llu:%lld:%lld", (unsigned long long)st.st_dev,
                     (unsigned long long)st.st_ino, (long long)st.st_size,
                     (long long)st.st_mtim.tv_sec * 1000000000LL + st.st_mtim.tv_nsec);
    return n < 0 || (size_t)n >= size ? -1 : 0;
}

/* twin of config.Settings.identity_tag, for an identity no configuration file extends. */
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
        if (file_identity(RULE_IDENTITY_FILE_VARIABLES[i], RULE_IDENTITY_FILE_DEFAULTS[i], id, sizeof id) !=
                0 ||
            add_line(buf, sizeof buf, &len, RULE_IDENTITY_FILE_VARIABLES[i], "#stat=", id) != 0)
            return -1;
        any |= strcmp(id, RULE_IDENTITY_ABSENT) != 0;
    }
    if (!any) {
        memcpy(out, RULE_DEFAULT_TAG, sizeof RULE_DEFAULT_TAG); /* it fits: out holds 16 + 1 */
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

/* twin of config.default_cache_dir, on Linux; -1 where Python would ask the password database. */
static int default_cache_dir(char *out, size_t size)
{
    const char *xdg = getenv(RULE_XDG_CACHE_VARIABLE), *home = getenv("HOME");
    if (xdg && *xdg == '/')
        return join(out, size, xdg, APP);
    if (!home || *home != '/')
        return -1;
    return join(out, size, home, RULE_XDG_CACHE_DEFAULT "/" APP);
}

/* config.cache_dirs' first choice, resolved; only when it passes the trusted-path rule
 * (else Python picks the next choice and says why). */
static int cache_dir(char *out, size_t size)
{
    char preferred[PATH_MAX], why[PATH_MAX + 256];
    const char *v = getenv(RULE_CACHE_DIR_VARIABLE);
    int rc;
    if (v && *v)
        rc = snprintf(preferred, sizeof preferred, "%s", v) < (int)sizeof preferred ? 0 : -1;
    else
        rc = default_cache_dir(preferred, sizeof preferred);
    return rc == 0 ? trust_check_dir(preferred, geteuid(), out, size, why, sizeof why) : -1;
}

/* ---- the request ---- */

/* Python's str.isspace() for ASCII. */
static int space(unsigned char c)
{
    return c == ' ' || (c >= '\t' && c <= '\r') || (c >= 0x1c && c <= 0x1f);
}

/* str.strip() for ASCII, into out (len + 1 bytes): the request itself must stay intact
 * for Python. */
static size_t strip(const char *s, size_t len, char *out)
{
    const char *from = s, *end = s + len;
    while (from < end && space((unsigned char)*from))
        from++;
    while (end > from && space((unsigned char)end[-1]))
        end--;
    memcpy(out, from, (size_t)(end - from));
    out[end - from] = '\0';
    return (size_t)(end - from);
}

/* twin of registry.authority_of, of a URL stripped already: its start, and its length. */
static size_t authority_of(const char *url, const char **start)
{
    const char *rest = strstr(url, "://");
    rest = rest ? rest + 3 : url;
    size_t end = strcspn(rest, "/");
    const char *at = memrchr(rest, '@', end);
    *start = at ? at + 1 : rest;
    return (size_t)(rest + end - *start);
}

/* str.lower() for ASCII. */
static void lower(char *out, const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++)
        out[i] = (char)(s[i] >= 'A' && s[i] <= 'Z' ? s[i] + 32 : s[i]);
    out[len] = '\0';
}

/* twin of registry.host_of; -1 for no host, or one too long to be ECR's. */
static int host_of(const char *url, char *out, size_t size)
{
    const char *rest;
    size_t len = authority_of(url, &rest);
    if (len && *rest == '[')
        return -1; /* an IPv6 literal is never ECR */
    const char *colon = memchr(rest, ':', len);
    if (colon)
        len = (size_t)(colon - rest);
    while (len && rest[len - 1] == '.')
        len--;
    if (len == 0 || len >= size)
        return -1;
    lower(out, rest, len);
    return 0;
}

static int in(const char *s, const char *const *set, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!strcmp(s, set[i]))
            return 1;
    return 0;
}

/* twin of registry.is_region, for the len bytes at label. */
static int is_region(const char *label, size_t len)
{
    return memchr(label, '-', len) && label[0] != '-' && label[len - 1] != '-' &&
           strspn(label, RULE_REGION_CHARS) == len;
}

/* twin of registry.parse, as a yes/no: does host name an ECR registry? */
static int parse(const char *host)
{
    if (in(host, RULE_PUBLIC_HOSTS, COUNT(RULE_PUBLIC_HOSTS)))
        return 1;
    size_t account = strcspn(host, ".");
    const char *rest = host + account + (host[account] == '.');
    if (account != RULE_ACCOUNT_DIGITS || strspn(host, "0123456789") < account)
        return 0;
    for (size_t i = 0; i < COUNT(RULE_FORMS); i++) {
        const struct rule_form *form = &RULE_FORMS[i];
        if (strncmp(rest, form->prefix, strlen(form->prefix)) != 0)
            continue;
        const char *region = rest + strlen(form->prefix);
        size_t len = strcspn(region, ".");
        const char *dns_suffix = region + len + (region[len] == '.');
        if (in(dns_suffix, form->suffixes, form->suffix_count) && is_region(region, len))
            return 1;
    }
    return 0;
}

/* ---- the cache file ---- */

/* Move *p past the digits there; 0 when there are none. */
static int digits(const char **p)
{
    size_t n = strspn(*p, "0123456789");
    *p += n;
    return n > 0;
}

/* Move *p past "<mark>[sign]<digits>" when *p is at mark; 0 when the digits are missing. */
static int part(const char **p, char mark, int sign)
{
    if (**p != mark)
        return 1;
    ++*p;
    if (sign && (**p == '+' || **p == '-'))
        ++*p;
    return digits(p);
}

/* A number exactly as Python's repr(float) writes a finite one. */
static int repr_float(const char *s, double *out)
{
    const char *p = s + (*s == '-');
    if (!digits(&p) || !part(&p, '.', 0) || !part(&p, 'e', 1) || *p)
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

/* files.read_private's test of the file, which is also in reach of buf; an empty one,
 * which Python reads as b"" and decode refuses, is refused at once. */
static int private_file(const struct stat *st, size_t size)
{
    return S_ISREG(st->st_mode) && st->st_uid == geteuid() && !(st->st_mode & 077) && st->st_size > 0 &&
           st->st_size <= RULE_READ_LIMIT && (size_t)st->st_size < size;
}

/* twin of files.read_private: the file's length (its bytes NUL-terminated in buf), or -1 */
static ssize_t read_private(const char *path, char *buf, size_t size)
{
    /* O_NONBLOCK: a FIFO planted at the path must not hang the open; fstat rejects it. */
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return -1;
    struct stat st;
    ssize_t n = -1;
    if (fstat(fd, &st) == 0 && private_file(&st, size))
        n = read(fd, buf, size - 1);
    if (close(fd) != 0 || n <= 0 || n != st.st_size)
        return -1;
    buf[n] = '\0';
    return n;
}

/* str.split("\n") in place, when it gives exactly n fields. */
static int split_lines(char *s, char **field, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        field[i] = s;
        char *newline = strchr(s, '\n');
        if (i + 1 == n)
            return newline ? -1 : 0;
        if (!newline)
            return -1;
        *newline = '\0';
        s = newline + 1;
    }
    return -1;
}

struct token {
    char *user, *secret;
    double requested, expires;
};

/* twin of cache.decode, stricter: ASCII only, and each number as repr() writes it. */
static int decode(char *data, size_t len, struct token *t)
{
    char *field[7]; /* magic, requested, expires, user, secret, endpoint, "" after the last line */
    if (!ascii(data, len) || split_lines(data, field, COUNT(field)) != 0)
        return -1;
    if (repr_float(field[1], &t->requested) != 0 || repr_float(field[2], &t->expires) != 0)
        return -1;
    t->user = field[3];
    t->secret = field[4];
    if (strcmp(field[0], RULE_TOKEN_MAGIC) != 0 || *field[6] || !*t->secret || !(t->expires > t->requested))
        return -1;
    return 0;
}

/* twin of cache.TokenCache.read (C's read is the system call); buf keeps the strings. */
static int read_token(const char *path, char *buf, size_t size, struct token *t)
{
    ssize_t n = read_private(path, buf, size);
    return n < 0 ? -1 : decode(buf, (size_t)n, t);
}

/* twin of token.AuthToken.refresh_at, with no refresh_before configured. */
static double refresh_at(const struct token *t)
{
    double lifetime = t->expires - t->requested;
    return t->expires - lifetime * RULE_REFRESH_FRACTION;
}

/* twin of token.AuthToken.fresh */
static int fresh(const struct token *t, double now)
{
    return now < refresh_at(t);
}

/* ---- the answer ---- */

/* twin of protocol.json_string, written to out. */
static void json_string(FILE *out, const char *s)
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

/* protocol._dispatch's answer to a get, byte for byte: the exit status. */
static int answer(const char *url, const struct token *t)
{
    fputs("{\"ServerURL\":", stdout);
    json_string(stdout, url);
    fputs(",\"Username\":", stdout);
    json_string(stdout, t->user);
    fputs(",\"Secret\":", stdout);
    json_string(stdout, t->secret);
    fputs("}\n", stdout);
    /* ferror too: a write that failed while the buffer filled is not seen by fflush. */
    return fflush(stdout) == 0 && !ferror(stdout) ? 0 : 1;
}

/* Where the Python helper keeps the token for url's host, if this path may look there. */
static int token_path(const char *url, char *path, size_t size)
{
    char tag[17], dir[4096], host[256];
    if (!plain_environment() || !no_config_file() || identity_tag(tag) != 0 ||
        cache_dir(dir, sizeof dir) != 0 || host_of(url, host, sizeof host) != 0 || !parse(host))
        return -1;
    int n = snprintf(path, size, "%s/%s" RULE_KEY_SEPARATOR "%s" RULE_TOKEN_SUFFIX, dir, host, tag);
    return n < 0 || (size_t)n >= size ? -1 : 0;
}

/* The answer to the request from a fresh cached token: the exit status, or FASTPATH_DECLINED. */
static int cache_hit(const char *request, size_t len)
{
    static char url[RULE_MAX_INPUT + 2];
    char path[8192], buf[8192];
    struct token t;
    struct timespec now;
    size_t n = strip(request, len, url);
    if (len > RULE_MAX_INPUT || n == 0 || !ascii(url, n) || token_path(url, path, sizeof path) != 0 ||
        read_token(path, buf, sizeof buf, &t) != 0 || clock_gettime(CLOCK_REALTIME, &now) != 0)
        return FASTPATH_DECLINED;
    if (!fresh(&t, (double)now.tv_sec + (double)now.tv_nsec / 1e9))
        return FASTPATH_DECLINED;
    return answer(url, &t);
}

/* Whether a failed read of stdin is worth trying again: interrupted, or a non-blocking
 * stdin with nothing yet, waited for as a blocking read would. */
static int read_again(ssize_t n)
{
    if (n >= 0)
        return 0;
    if (errno == EINTR)
        return 1;
    if (errno != EAGAIN && errno != EWOULDBLOCK)
        return 0;
    struct pollfd p = {.fd = 0, .events = POLLIN};
    return poll(&p, 1, -1) >= 0 || errno == EINTR;
}

/* All of stdin, up to size - 1 bytes, NUL-terminated; -1 (errno set) when a read fails. */
static int read_request(char *buf, size_t size, size_t *len)
{
    *len = 0;
    for (;;) {
        ssize_t n = read(0, buf + *len, size - 1 - *len);
        if (read_again(n))
            continue;
        if (n < 0)
            return -1;
        if (n == 0 || (*len += (size_t)n) == size - 1)
            break;
    }
    buf[*len] = '\0';
    return 0;
}

/* The request as the contents of a memory file on stdin. */
static int stdin_from_memfd(const char *data, size_t len)
{
    int fd = memfd_create("request", MFD_CLOEXEC);
    if (fd < 0)
        return -1;
    int ok = write(fd, data, len) == (ssize_t)len && lseek(fd, 0, SEEK_SET) == 0 && dup2(fd, 0) == 0;
    return close(fd) == 0 && ok ? 0 : -1;
}

/* The request as a pipe's contents on stdin, where no memory file can be had. */
static int stdin_from_pipe(const char *data, size_t len)
{
    int p[2];
    if (len > PIPE_CAPACITY || pipe(p) != 0)
        return -1;
    int ok = write(p[1], data, len) == (ssize_t)len && dup2(p[0], 0) == 0;
    /* Both closed whatever happened: Python sees the end of the request only once the write end is. */
    int read_end = close(p[0]), write_end = close(p[1]);
    return ok && read_end == 0 && write_end == 0 ? 0 : -1;
}

/* Give the consumed request back on stdin for the Python helper. */
static int restore_stdin(off_t start, const char *data, size_t len)
{
    if (start >= 0 && lseek(0, start, SEEK_SET) == start)
        return 0;
    return stdin_from_memfd(data, len) == 0 || stdin_from_pipe(data, len) == 0 ? 0 : -1;
}

int fastpath_get(int argc, char **argv)
{
    static char request[RULE_MAX_INPUT + 2];
    size_t len;
    if (argc != 2 || strcmp(argv[1], "get") != 0)
        return FASTPATH_DECLINED;
    off_t start = lseek(0, 0, SEEK_CUR); /* a file can simply be rewound afterwards */
    if (read_request(request, sizeof request, &len) != 0) {
        if (len == 0)
            return FASTPATH_DECLINED; /* nothing consumed: Python meets the same error */
        /* Handing Python only part of the request would answer a different one. */
        fprintf(stdout, APP ": cannot read the request on stdin: %s\n", strerror(errno));
        fflush(stdout);
        return 1;
    }
    int status = cache_hit(request, len);
    if (status == FASTPATH_DECLINED && restore_stdin(start, request, len) != 0) {
        fputs(APP ": cannot pass the request on stdin along\n", stdout);
        fflush(stdout);
        return 1;
    }
    return status;
}
