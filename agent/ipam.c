#include <sluice-config.h>

#include "sluice/ipam.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "sluice/log.h"

SLOG_MODULE(ipam);

/* Names of the files in the state directory. */
#define IPAM_STORE_NAME "ipam.json"
#define IPAM_TMP_NAME "ipam.json.tmp"
#define IPAM_LOCK_NAME "ipam.lock"

/* Version of the store's format. */
#define IPAM_STORE_VERSION 1

/* An allocation as 'struct ipam' keeps it. */
struct ipam_entry {
    struct ipam_allocation alloc; /* What callers see. */
    uint32_t offset;              /* Address minus the network address. */
    struct ipam_entry *hash_next; /* Next entry in the same hash bucket. */
    bool doomed; /* Being released: left out of the store being written. */
};

struct ipam {
    char *state_dir;             /* Directory of the store, for messages. */
    char *store_path;            /* Path of the store, for messages. */
    int dir_fd;                  /* The state directory, open. */
    int lock_fd;                 /* IPAM_LOCK_NAME, flock()ed. */
    char cidr[IPAM_CIDR_STRLEN]; /* Canonical CIDR. */
    uint32_t network;            /* Network address, host order. */
    unsigned int prefix_len;     /* Prefix length, 8..30. */
    uint32_t size;               /* Number of addresses in the CIDR. */
    uint32_t last;               /* Offset of the latest allocation. */
    uint64_t *bitmap;            /* 1-bit per offset: used or reserved. */

    /* Allocations by ascending offset. */
    struct ipam_entry **entries;
    size_t n_entries;
    size_t allocated_entries; /* Capacity of 'entries'. */

    /* Allocations by (container id, ifname), chained. */
    struct ipam_entry **buckets;
    size_t n_buckets; /* A power of 2. */
};

static void ipam_set_error(char *err, size_t err_size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Formats an error message into 'err'.  A message that does not fit ends in
 * "..." so that the truncation is visible. */
static void
ipam_set_error(char *err, size_t err_size, const char *fmt, ...)
{
    if (!err || !err_size) {
        return;
    }

    va_list args;
    va_start(args, fmt);
    int n = vsnprintf(err, err_size, fmt, args);
    va_end(args);

    if (n < 0) {
        snprintf(err, err_size, "ipam: cannot format error message");
    } else if ((size_t)n >= err_size && err_size >= 4) {
        memcpy(err + err_size - 4, "...", 4);
    }
}

char *
ipam_addr_to_string(struct in_addr addr, char *buf)
{
    if (!inet_ntop(AF_INET, &addr, buf, INET_ADDRSTRLEN)) {
        /* Cannot happen with INET_ADDRSTRLEN bytes of room. */
        snprintf(buf, INET_ADDRSTRLEN, "?");
    }
    return buf;
}

static struct in_addr
ipam_offset_to_addr(const struct ipam *ipam, uint32_t offset)
{
    struct in_addr addr = {.s_addr = htonl(ipam->network + offset)};
    return addr;
}

/* Returns true if 'offset' may be handed out: neither the network address,
 * the gateway nor the broadcast address. */
static bool
ipam_offset_is_pod(const struct ipam *ipam, uint32_t offset)
{
    return offset >= 2 && offset < ipam->size - 1;
}

/* Converts 'addr' into an offset in the pool.  Returns false if 'addr' is
 * outside the CIDR. */
static bool
ipam_addr_to_offset(const struct ipam *ipam, struct in_addr addr,
                    uint32_t *offset)
{
    uint32_t host = ntohl(addr.s_addr);
    uint32_t mask = UINT32_MAX << (32 - ipam->prefix_len);

    if ((host & mask) != ipam->network) {
        return false;
    }
    *offset = host - ipam->network;
    return true;
}

static bool
bitmap_test(const uint64_t *bitmap, uint32_t i)
{
    return (bitmap[i / 64] >> (i % 64)) & 1;
}

static void
bitmap_set(uint64_t *bitmap, uint32_t i, bool value)
{
    if (value) {
        bitmap[i / 64] |= UINT64_C(1) << (i % 64);
    } else {
        bitmap[i / 64] &= ~(UINT64_C(1) << (i % 64));
    }
}

int
ipam_parse_cidr(const char *cidr, uint32_t *network, unsigned int *prefix_len,
                char *err, size_t err_size)
{
    if (!cidr) {
        ipam_set_error(err, err_size, "ipam: no pod CIDR given");
        return EINVAL;
    }

    const char *slash = strchr(cidr, '/');
    char addr_s[INET_ADDRSTRLEN];
    size_t addr_len = slash ? (size_t)(slash - cidr) : 0;
    if (!slash || addr_len == 0 || addr_len >= sizeof addr_s) {
        ipam_set_error(err, err_size,
                       "ipam: pod CIDR \"%.64s\" is not of the form "
                       "A.B.C.D/P",
                       cidr);
        return EINVAL;
    }
    memcpy(addr_s, cidr, addr_len);
    addr_s[addr_len] = '\0';

    struct in_addr addr;
    if (inet_pton(AF_INET, addr_s, &addr) != 1) {
        ipam_set_error(err, err_size,
                       "ipam: pod CIDR \"%.64s\": \"%s\" is not an IPv4 "
                       "address",
                       cidr, addr_s);
        return EINVAL;
    }

    const char *p = slash + 1;
    unsigned int plen = 0;
    size_t n_digits = 0;
    for (; *p >= '0' && *p <= '9' && n_digits < 3; p++, n_digits++) {
        plen = plen * 10 + (unsigned int)(*p - '0');
    }
    if (!n_digits || *p != '\0') {
        ipam_set_error(err, err_size,
                       "ipam: pod CIDR \"%.64s\" has a malformed prefix "
                       "length",
                       cidr);
        return EINVAL;
    }
    if (plen < 8 || plen > 30) {
        ipam_set_error(err, err_size,
                       "ipam: pod CIDR \"%.64s\": prefix length %u is not "
                       "within 8..30",
                       cidr, plen);
        return EINVAL;
    }

    uint32_t host = ntohl(addr.s_addr);
    uint32_t mask = UINT32_MAX << (32 - plen);
    if (host & ~mask) {
        ipam_set_error(err, err_size,
                       "ipam: pod CIDR \"%.64s\" has host bits set", cidr);
        return EINVAL;
    }

    *network = host;
    *prefix_len = plen;
    return 0;
}

/* Checks that 's' (called 'what') is a nonempty string of at most 'max'
 * printable, non-space ASCII characters.  Returns 0 or EINVAL. */
static int
ipam_check_token(const char *s, const char *what, size_t max, char *err,
                 size_t err_size)
{
    if (!s || !s[0]) {
        ipam_set_error(err, err_size, "ipam: %s is empty", what);
        return EINVAL;
    }
    size_t len = strnlen(s, max + 1);
    if (len > max) {
        ipam_set_error(err, err_size,
                       "ipam: %s \"%.32s...\" is longer than %zu bytes", what,
                       s, max);
        return EINVAL;
    }
    for (size_t i = 0; i < len; i++) {
        unsigned char c = s[i];
        if (c <= ' ' || c >= 0x7f) {
            ipam_set_error(err, err_size,
                           "ipam: %s contains a space, control or non-ASCII "
                           "character (byte %zu)",
                           what, i);
            return EINVAL;
        }
    }
    return 0;
}

/* Validates a (container id, ifname) pair.  Returns 0 or EINVAL. */
static int
ipam_check_key(const char *container_id, const char *ifname, char *err,
               size_t err_size)
{
    int error = ipam_check_token(container_id, "container id",
                                 IPAM_MAX_CONTAINER_ID, err, err_size);
    if (error) {
        return error;
    }
    error = ipam_check_token(ifname, "interface name", IPAM_MAX_IFNAME, err,
                             err_size);
    if (error) {
        return error;
    }
    if (!strcmp(ifname, ".") || !strcmp(ifname, "..")
        || strpbrk(ifname, "/:")) {
        ipam_set_error(err, err_size,
                       "ipam: \"%s\" is not a valid interface name", ifname);
        return EINVAL;
    }
    return 0;
}

/* Validates an optional pod namespace or name: NULL and "" mean unknown.
 * Returns 0 or EINVAL. */
static int
ipam_check_pod_field(const char *s, const char *what, size_t max, char *err,
                     size_t err_size)
{
    if (!s || !s[0]) {
        return 0;
    }
    return ipam_check_token(s, what, max, err, err_size);
}

static uint32_t
ipam_hash(const char *container_id, const char *ifname)
{
    /* FNV-1a over "container_id\0ifname". */
    uint32_t hash = 2166136261u;
    for (const char *p = container_id; *p; p++) {
        hash = (hash ^ (unsigned char)*p) * 16777619u;
    }
    hash *= 16777619u;
    for (const char *p = ifname; *p; p++) {
        hash = (hash ^ (unsigned char)*p) * 16777619u;
    }
    return hash;
}

static struct ipam_entry *
ipam_find(const struct ipam *ipam, const char *container_id,
          const char *ifname)
{
    uint32_t hash = ipam_hash(container_id, ifname);
    struct ipam_entry *e = ipam->buckets[hash & (ipam->n_buckets - 1)];

    for (; e; e = e->hash_next) {
        if (!strcmp(e->alloc.container_id, container_id)
            && !strcmp(e->alloc.ifname, ifname)) {
            return e;
        }
    }
    return NULL;
}

/* Returns the index in 'ipam->entries' at which an entry for 'offset' is or
 * would be. */
static size_t
ipam_entry_index(const struct ipam *ipam, uint32_t offset)
{
    size_t lo = 0, hi = ipam->n_entries;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (ipam->entries[mid]->offset < offset) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return lo;
}

/* Makes room for one more entry, so that ipam_insert() cannot fail.
 * Returns 0 or ENOMEM. */
static int
ipam_reserve(struct ipam *ipam)
{
    if (ipam->n_entries == ipam->allocated_entries) {
        size_t n = ipam->allocated_entries ? ipam->allocated_entries * 2 : 16;
        struct ipam_entry **entries
            = reallocarray(ipam->entries, n, sizeof *entries);
        if (!entries) {
            return ENOMEM;
        }
        ipam->entries = entries;
        ipam->allocated_entries = n;
    }

    if (ipam->n_entries + 1 > ipam->n_buckets) {
        size_t n = ipam->n_buckets * 2;
        struct ipam_entry **buckets = calloc(n, sizeof *buckets);
        if (!buckets) {
            return ENOMEM;
        }
        for (size_t i = 0; i < ipam->n_buckets; i++) {
            struct ipam_entry *e, *next;
            for (e = ipam->buckets[i]; e; e = next) {
                next = e->hash_next;
                uint32_t hash
                    = ipam_hash(e->alloc.container_id, e->alloc.ifname);
                e->hash_next = buckets[hash & (n - 1)];
                buckets[hash & (n - 1)] = e;
            }
        }
        free(ipam->buckets);
        ipam->buckets = buckets;
        ipam->n_buckets = n;
    }
    return 0;
}

/* Adds 'e' to 'ipam'.  ipam_reserve() must have succeeded since the last
 * insertion. */
static void
ipam_insert(struct ipam *ipam, struct ipam_entry *e)
{
    size_t i = ipam_entry_index(ipam, e->offset);
    memmove(&ipam->entries[i + 1], &ipam->entries[i],
            (ipam->n_entries - i) * sizeof *ipam->entries);
    ipam->entries[i] = e;
    ipam->n_entries++;

    uint32_t hash = ipam_hash(e->alloc.container_id, e->alloc.ifname);
    struct ipam_entry **bucket = &ipam->buckets[hash & (ipam->n_buckets - 1)];
    e->hash_next = *bucket;
    *bucket = e;

    bitmap_set(ipam->bitmap, e->offset, true);
}

/* Removes 'e' from 'ipam' without freeing it. */
static void
ipam_remove(struct ipam *ipam, struct ipam_entry *e)
{
    size_t i = ipam_entry_index(ipam, e->offset);
    memmove(&ipam->entries[i], &ipam->entries[i + 1],
            (ipam->n_entries - i - 1) * sizeof *ipam->entries);
    ipam->n_entries--;

    uint32_t hash = ipam_hash(e->alloc.container_id, e->alloc.ifname);
    struct ipam_entry **p = &ipam->buckets[hash & (ipam->n_buckets - 1)];
    while (*p != e) {
        p = &(*p)->hash_next;
    }
    *p = e->hash_next;

    bitmap_set(ipam->bitmap, e->offset, false);
}

/* Finds the first free offset after 'ipam->last', wrapping around.  Returns
 * false if the pool is exhausted. */
static bool
ipam_find_free(const struct ipam *ipam, uint32_t *offsetp)
{
    uint32_t offset = ipam->last + 1 < ipam->size ? ipam->last + 1 : 0;
    uint64_t scanned = 0;

    /* Reserved offsets and the bits past the end of a pool smaller than 64
     * addresses are set in the bitmap, so full words can be skipped. */
    while (scanned < ipam->size) {
        if (!(offset % 64) && ipam->bitmap[offset / 64] == UINT64_MAX) {
            scanned += 64;
            offset += 64;
        } else if (!bitmap_test(ipam->bitmap, offset)) {
            *offsetp = offset;
            return true;
        } else {
            scanned++;
            offset++;
        }
        if (offset >= ipam->size) {
            offset = 0;
        }
    }
    return false;
}

static void
ipam_log_event(const char *what, const struct ipam_allocation *a)
{
    char ip[INET_ADDRSTRLEN];

    ipam_addr_to_string(a->addr, ip);
    if (a->pod_namespace[0] || a->pod_name[0]) {
        SLOG_INFO("pod %s/%s: %s %s (container %.12s, %s)", a->pod_namespace,
                  a->pod_name, what, ip, a->container_id, a->ifname);
    } else {
        SLOG_INFO("container %.12s, %s: %s %s", a->container_id, a->ifname,
                  what, ip);
    }
}

static json_t *
ipam_entry_to_json(const struct ipam_entry *e)
{
    const struct ipam_allocation *a = &e->alloc;
    char ip[INET_ADDRSTRLEN];

    json_t *obj = json_pack("{s:s, s:s, s:s, s:I}", "container_id",
                            a->container_id, "ifname", a->ifname, "ip",
                            ipam_addr_to_string(a->addr, ip), "allocated_at",
                            (json_int_t)a->allocated_at);
    if (!obj) {
        return NULL;
    }
    if ((a->pod_namespace[0]
         && json_object_set_new(obj, "namespace",
                                json_string(a->pod_namespace)))
        || (a->pod_name[0]
            && json_object_set_new(obj, "name", json_string(a->pod_name)))) {
        json_decref(obj);
        return NULL;
    }
    return obj;
}

/* Returns the store as JSON: the entries of 'ipam' that are not doomed, plus
 * 'extra' if nonnull, with 'last' as the latest allocated offset.  Returns
 * NULL if memory is exhausted. */
static json_t *
ipam_to_json(const struct ipam *ipam, const struct ipam_entry *extra,
             uint32_t last)
{
    char last_s[INET_ADDRSTRLEN];
    json_t *root = json_pack(
        "{s:i, s:s, s:s, s:[]}", "version", IPAM_STORE_VERSION, "cidr",
        ipam->cidr, "last",
        ipam_addr_to_string(ipam_offset_to_addr(ipam, last), last_s),
        "allocations");
    if (!root) {
        return NULL;
    }

    json_t *array = json_object_get(root, "allocations");
    for (size_t i = 0; i <= ipam->n_entries; i++) {
        const struct ipam_entry *e
            = i < ipam->n_entries ? ipam->entries[i] : NULL;
        if (extra && (!e || extra->offset < e->offset)) {
            if (json_array_append_new(array, ipam_entry_to_json(extra))) {
                goto error;
            }
            extra = NULL;
        }
        if (e && !e->doomed
            && json_array_append_new(array, ipam_entry_to_json(e))) {
            goto error;
        }
    }
    return root;

error:
    json_decref(root);
    return NULL;
}

static int
write_all(int fd, const char *buf, size_t len)
{
    while (len) {
        ssize_t n = write(fd, buf, len);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            return errno;
        }
        buf += n;
        len -= n;
    }
    return 0;
}

/* Replaces the store by 'text' atomically and durably: write a temporary
 * file, fsync it, rename it over the store, fsync the directory.  Returns 0
 * or a positive errno value with a message in 'err'. */
static int
ipam_write_store(struct ipam *ipam, const char *text, char *err,
                 size_t err_size)
{
    const char *step = "create";
    int error;

    int fd
        = openat(ipam->dir_fd, IPAM_TMP_NAME,
                 O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) {
        error = errno;
        goto error;
    }

    step = "write";
    error = write_all(fd, text, strlen(text));
    if (!error) {
        step = "fsync";
        error = fsync(fd) ? errno : 0;
    }
    if (close(fd) && !error) {
        step = "close";
        error = errno;
    }
    if (error) {
        goto error_unlink;
    }

    step = "rename";
    if (renameat(ipam->dir_fd, IPAM_TMP_NAME, ipam->dir_fd, IPAM_STORE_NAME)) {
        error = errno;
        goto error_unlink;
    }

    /* The store is replaced but the rename may not be durable yet.  The
     * caller still undoes its change, which the next successful write
     * brings to disk. */
    if (fsync(ipam->dir_fd)) {
        error = errno;
        ipam_set_error(err, err_size, "ipam: fsync of %s failed (%s)",
                       ipam->state_dir, strerror(error));
        return error;
    }
    return 0;

error_unlink:
    /* Best effort: a stale temporary file is overwritten next time. */
    (void)unlinkat(ipam->dir_fd, IPAM_TMP_NAME, 0);
error:
    ipam_set_error(err, err_size, "ipam: %s of %s/%s failed (%s)", step,
                   ipam->state_dir, IPAM_TMP_NAME, strerror(error));
    return error;
}

/* Writes the store that ipam_to_json() describes for 'extra' and 'last'.
 * Returns 0 or a positive errno value with a message in 'err'. */
static int
ipam_persist(struct ipam *ipam, const struct ipam_entry *extra, uint32_t last,
             char *err, size_t err_size)
{
    json_t *root = ipam_to_json(ipam, extra, last);
    char *text
        = root ? json_dumps(root, JSON_INDENT(2) | JSON_SORT_KEYS) : NULL;
    json_decref(root);
    if (!text) {
        ipam_set_error(err, err_size, "ipam: out of memory serializing %s",
                       ipam->store_path);
        return ENOMEM;
    }

    /* End the file with a newline, for people reading it. */
    size_t len = strlen(text);
    char *with_nl = realloc(text, len + 2);
    if (!with_nl) {
        free(text);
        ipam_set_error(err, err_size, "ipam: out of memory serializing %s",
                       ipam->store_path);
        return ENOMEM;
    }
    memcpy(with_nl + len, "\n", 2);

    int error = ipam_write_store(ipam, with_nl, err, err_size);
    free(with_nl);
    return error;
}

/* Sets '*dst' (of 'size' bytes) to 's' or "" if 's' is NULL.  The caller
 * has checked the length. */
static void
ipam_copy(char *dst, size_t size, const char *s)
{
    if (!s) {
        s = "";
    }
    size_t len = strnlen(s, size - 1);
    memcpy(dst, s, len);
    dst[len] = '\0';
}

/* Parses one element of the store's "allocations" array into a new entry
 * and adds it to 'ipam'.  Returns 0 or EBADMSG or ENOMEM with a message. */
static int
ipam_load_allocation(struct ipam *ipam, const json_t *obj, size_t idx,
                     char *err, size_t err_size)
{
    const char *cid, *ifname, *ip, *ns = NULL, *name = NULL;
    json_int_t when;
    json_error_t jerr;
    char why[256];

    if (json_unpack_ex((json_t *)obj, &jerr, 0,
                       "{s:s, s:s, s:s, s?s, s?s, s:I}", "container_id", &cid,
                       "ifname", &ifname, "ip", &ip, "namespace", &ns, "name",
                       &name, "allocated_at", &when)) {
        ipam_set_error(err, err_size,
                       "ipam: store %s is corrupt: allocation %zu: %s",
                       ipam->store_path, idx, jerr.text);
        return EBADMSG;
    }
    if (ipam_check_key(cid, ifname, why, sizeof why)
        || ipam_check_pod_field(ns, "pod namespace", IPAM_MAX_POD_NAMESPACE,
                                why, sizeof why)
        || ipam_check_pod_field(name, "pod name", IPAM_MAX_POD_NAME, why,
                                sizeof why)) {
        ipam_set_error(err, err_size,
                       "ipam: store %s is corrupt: allocation %zu: %s",
                       ipam->store_path, idx, why);
        return EBADMSG;
    }

    struct in_addr addr;
    uint32_t offset;
    if (inet_pton(AF_INET, ip, &addr) != 1
        || !ipam_addr_to_offset(ipam, addr, &offset)
        || !ipam_offset_is_pod(ipam, offset)) {
        ipam_set_error(err, err_size,
                       "ipam: store %s is corrupt: allocation %zu: \"%.32s\" "
                       "is not a pod address in %s",
                       ipam->store_path, idx, ip, ipam->cidr);
        return EBADMSG;
    }
    if (bitmap_test(ipam->bitmap, offset)) {
        ipam_set_error(err, err_size,
                       "ipam: store %s is corrupt: %s is allocated twice",
                       ipam->store_path, ip);
        return EBADMSG;
    }
    if (ipam_find(ipam, cid, ifname)) {
        ipam_set_error(err, err_size,
                       "ipam: store %s is corrupt: container %.64s interface "
                       "%s has two addresses",
                       ipam->store_path, cid, ifname);
        return EBADMSG;
    }

    struct ipam_entry *e = calloc(1, sizeof *e);
    if (!e || ipam_reserve(ipam)) {
        free(e);
        ipam_set_error(err, err_size, "ipam: out of memory loading %s",
                       ipam->store_path);
        return ENOMEM;
    }
    ipam_copy(e->alloc.container_id, sizeof e->alloc.container_id, cid);
    ipam_copy(e->alloc.ifname, sizeof e->alloc.ifname, ifname);
    ipam_copy(e->alloc.pod_namespace, sizeof e->alloc.pod_namespace, ns);
    ipam_copy(e->alloc.pod_name, sizeof e->alloc.pod_name, name);
    e->alloc.addr = addr;
    e->alloc.allocated_at = (time_t)when;
    e->offset = offset;
    ipam_insert(ipam, e);
    return 0;
}

/* Loads the store's JSON 'root' into the empty 'ipam'.  Returns 0 or a
 * positive errno value with a message in 'err'. */
static int
ipam_load_json(struct ipam *ipam, const json_t *root, char *err,
               size_t err_size)
{
    json_int_t version;
    const char *cidr, *last;
    json_t *allocations;
    json_error_t jerr;

    if (json_unpack_ex((json_t *)root, &jerr, 0, "{s:I, s:s, s:s, s:o}",
                       "version", &version, "cidr", &cidr, "last", &last,
                       "allocations", &allocations)) {
        ipam_set_error(err, err_size, "ipam: store %s is corrupt: %s",
                       ipam->store_path, jerr.text);
        return EBADMSG;
    }
    if (version != IPAM_STORE_VERSION) {
        ipam_set_error(err, err_size,
                       "ipam: store %s has unsupported version %" PRIdMAX,
                       ipam->store_path, (intmax_t)version);
        return EBADMSG;
    }

    uint32_t network;
    unsigned int prefix_len;
    char why[256];
    if (ipam_parse_cidr(cidr, &network, &prefix_len, why, sizeof why)) {
        ipam_set_error(err, err_size, "ipam: store %s is corrupt: %s",
                       ipam->store_path, why);
        return EBADMSG;
    }
    if (!json_is_array(allocations)) {
        ipam_set_error(err, err_size,
                       "ipam: store %s is corrupt: \"allocations\" is not an "
                       "array",
                       ipam->store_path);
        return EBADMSG;
    }
    if (network != ipam->network || prefix_len != ipam->prefix_len) {
        ipam_set_error(err, err_size,
                       "ipam: store %s is for pod CIDR %.32s, not %s; "
                       "refusing to drop its %zu allocations (move the store "
                       "away if the node's pod CIDR really changed)",
                       ipam->store_path, cidr, ipam->cidr,
                       json_array_size(allocations));
        return EINVAL;
    }

    struct in_addr last_addr;
    uint32_t last_offset;
    if (inet_pton(AF_INET, last, &last_addr) != 1
        || !ipam_addr_to_offset(ipam, last_addr, &last_offset)
        || last_offset < 1 || last_offset >= ipam->size - 1) {
        ipam_set_error(err, err_size,
                       "ipam: store %s is corrupt: \"last\" (\"%.32s\") is "
                       "not an address in %s",
                       ipam->store_path, last, ipam->cidr);
        return EBADMSG;
    }
    ipam->last = last_offset;

    for (size_t i = 0; i < json_array_size(allocations); i++) {
        int error = ipam_load_allocation(ipam, json_array_get(allocations, i),
                                         i, err, err_size);
        if (error) {
            return error;
        }
    }
    return 0;
}

/* Takes the lock on the state directory.  Returns 0 or a positive errno
 * value (EBUSY if another handle holds it) with a message in 'err'. */
static int
ipam_lock(struct ipam *ipam, char *err, size_t err_size)
{
    ipam->lock_fd = openat(ipam->dir_fd, IPAM_LOCK_NAME,
                           O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (ipam->lock_fd < 0) {
        int error = errno;
        ipam_set_error(err, err_size, "ipam: cannot open %s/%s (%s)",
                       ipam->state_dir, IPAM_LOCK_NAME, strerror(error));
        return error;
    }

    int retval;
    do {
        retval = flock(ipam->lock_fd, LOCK_EX | LOCK_NB);
    } while (retval && errno == EINTR);
    if (retval) {
        int error = errno;
        if (error == EWOULDBLOCK) {
            /* The holder wrote its pid into the file, for this message. */
            char pid[24];
            ssize_t n = pread(ipam->lock_fd, pid, sizeof pid - 1, 0);
            n = n > 0 ? n : 0;
            pid[n] = '\0';
            pid[strcspn(pid, "\n")] = '\0';
            ipam_set_error(
                err, err_size,
                "ipam: state directory %s is locked by pid %s (%s); "
                "is another sluiced running?",
                ipam->state_dir, pid[0] ? pid : "unknown", IPAM_LOCK_NAME);
            return EBUSY;
        }
        ipam_set_error(err, err_size, "ipam: cannot lock %s/%s (%s)",
                       ipam->state_dir, IPAM_LOCK_NAME, strerror(error));
        return error;
    }

    char pid[24];
    int len = snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
    errno = 0;
    if (len < 0 || (size_t)len >= sizeof pid || ftruncate(ipam->lock_fd, 0)
        || pwrite(ipam->lock_fd, pid, len, 0) != len) {
        int error = errno ? errno : EIO;
        ipam_set_error(err, err_size, "ipam: cannot write %s/%s (%s)",
                       ipam->state_dir, IPAM_LOCK_NAME, strerror(error));
        return error;
    }
    return 0;
}

/* Loads the store, or creates it if it does not exist.  Returns 0 or a
 * positive errno value with a message in 'err'. */
static int
ipam_load(struct ipam *ipam, char *err, size_t err_size)
{
    int fd = openat(ipam->dir_fd, IPAM_STORE_NAME,
                    O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) {
        int error = errno;
        if (error != ENOENT) {
            ipam_set_error(err, err_size, "ipam: cannot open %s (%s)",
                           ipam->store_path, strerror(error));
            return error;
        }

        /* A new store: write it now, which pins the CIDR and checks that
         * the directory is writable before any pod depends on it. */
        error = ipam_persist(ipam, NULL, ipam->last, err, err_size);
        if (!error) {
            SLOG_INFO("created store %s for pod CIDR %s", ipam->store_path,
                      ipam->cidr);
        }
        return error;
    }

    /* Buffered: jansson's fd loader reads one byte per read(). */
    json_error_t jerr;
    FILE *file = fdopen(dup(fd), "r");
    json_t *root = (file ? json_loadf(file, JSON_REJECT_DUPLICATES, &jerr)
                         : NULL);
    if (!file) {
        snprintf(jerr.text, sizeof jerr.text, "%s", strerror(errno));
        jerr.line = jerr.column = 0;
    } else {
        fclose(file);
    }
    int error = 0;
    if (!root) {
        ipam_set_error(err, err_size,
                       "ipam: store %s is corrupt or truncated: line %d "
                       "column %d: %s",
                       ipam->store_path, jerr.line, jerr.column, jerr.text);
        error = EBADMSG;
    } else {
        error = ipam_load_json(ipam, root, err, err_size);
        json_decref(root);
    }
    if (close(fd) && !error) {
        error = errno;
        ipam_set_error(err, err_size, "ipam: cannot close %s (%s)",
                       ipam->store_path, strerror(error));
    }
    if (!error) {
        SLOG_INFO("loaded store %s: pod CIDR %s, %zu allocations",
                  ipam->store_path, ipam->cidr, ipam->n_entries);
    }
    return error;
}

int
ipam_open(struct ipam **ipamp, const char *state_dir, const char *cidr,
          char *err, size_t err_size)
{
    *ipamp = NULL;

    uint32_t network;
    unsigned int prefix_len;
    int error = ipam_parse_cidr(cidr, &network, &prefix_len, err, err_size);
    if (error) {
        return error;
    }
    if (!state_dir || !state_dir[0]) {
        ipam_set_error(err, err_size, "ipam: no state directory given");
        return EINVAL;
    }

    struct ipam *ipam = calloc(1, sizeof *ipam);
    if (!ipam) {
        ipam_set_error(err, err_size, "ipam: out of memory");
        return ENOMEM;
    }
    ipam->dir_fd = -1;
    ipam->lock_fd = -1;
    ipam->network = network;
    ipam->prefix_len = prefix_len;
    ipam->size = UINT32_C(1) << (32 - prefix_len);
    ipam->last = 1;

    char net_s[INET_ADDRSTRLEN];
    int n = snprintf(ipam->cidr, sizeof ipam->cidr, "%s/%u",
                     ipam_addr_to_string(ipam_offset_to_addr(ipam, 0), net_s),
                     prefix_len);
    if (n < 0 || (size_t)n >= sizeof ipam->cidr) {
        /* Cannot happen: IPAM_CIDR_STRLEN fits any IPv4 CIDR. */
        ipam_set_error(err, err_size, "ipam: cannot format pod CIDR");
        error = EINVAL;
        goto error;
    }

    size_t n_words = (ipam->size + 63) / 64;
    ipam->bitmap = calloc(n_words, sizeof *ipam->bitmap);
    ipam->state_dir = strdup(state_dir);
    ipam->n_buckets = 64;
    ipam->buckets = calloc(ipam->n_buckets, sizeof *ipam->buckets);
    if (!ipam->bitmap || !ipam->state_dir || !ipam->buckets
        || asprintf(&ipam->store_path, "%s/%s", state_dir, IPAM_STORE_NAME)
               < 0) {
        ipam->store_path = NULL;
        ipam_set_error(err, err_size, "ipam: out of memory");
        error = ENOMEM;
        goto error;
    }

    /* Reserve the network, gateway and broadcast addresses, and the bits
     * past the end of a pool smaller than a word. */
    for (uint32_t i = ipam->size; i < n_words * 64; i++) {
        bitmap_set(ipam->bitmap, i, true);
    }
    bitmap_set(ipam->bitmap, 0, true);
    bitmap_set(ipam->bitmap, 1, true);
    bitmap_set(ipam->bitmap, ipam->size - 1, true);

    if (mkdir(state_dir, 0700) && errno != EEXIST) {
        error = errno;
        ipam_set_error(err, err_size,
                       "ipam: cannot create state directory %s (%s)",
                       state_dir, strerror(error));
        goto error;
    }
    ipam->dir_fd = open(state_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (ipam->dir_fd < 0) {
        error = errno;
        ipam_set_error(err, err_size,
                       "ipam: cannot open state directory %s (%s)", state_dir,
                       strerror(error));
        goto error;
    }

    error = ipam_lock(ipam, err, err_size);
    if (error) {
        goto error;
    }
    error = ipam_load(ipam, err, err_size);
    if (error) {
        goto error;
    }

    *ipamp = ipam;
    return 0;

error:
    ipam_close(ipam);
    return error;
}

void
ipam_close(struct ipam *ipam)
{
    if (!ipam) {
        return;
    }
    for (size_t i = 0; i < ipam->n_entries; i++) {
        free(ipam->entries[i]);
    }
    free(ipam->entries);
    free(ipam->buckets);
    free(ipam->bitmap);
    /* Closing the descriptor releases the flock(). */
    if (ipam->lock_fd >= 0) {
        close(ipam->lock_fd);
    }
    if (ipam->dir_fd >= 0) {
        close(ipam->dir_fd);
    }
    free(ipam->store_path);
    free(ipam->state_dir);
    free(ipam);
}

int
ipam_allocate(struct ipam *ipam, const char *container_id, const char *ifname,
              const char *pod_namespace, const char *pod_name,
              struct in_addr *addr, char *err, size_t err_size)
{
    int error = ipam_check_key(container_id, ifname, err, err_size);
    if (!error) {
        error = ipam_check_pod_field(pod_namespace, "pod namespace",
                                     IPAM_MAX_POD_NAMESPACE, err, err_size);
    }
    if (!error) {
        error = ipam_check_pod_field(pod_name, "pod name", IPAM_MAX_POD_NAME,
                                     err, err_size);
    }
    if (error) {
        return error;
    }

    const struct ipam_entry *old = ipam_find(ipam, container_id, ifname);
    if (old) {
        char ip[INET_ADDRSTRLEN];
        SLOG_DBG("container %.12s, %s: already has %s", container_id, ifname,
                 ipam_addr_to_string(old->alloc.addr, ip));
        *addr = old->alloc.addr;
        return 0;
    }

    uint32_t offset;
    if (!ipam_find_free(ipam, &offset)) {
        ipam_set_error(err, err_size,
                       "ipam: pod CIDR %s is exhausted (all %" PRIu32
                       " addresses are in use); cannot allocate for "
                       "container %.12s, %s",
                       ipam->cidr, ipam->size - 3, container_id, ifname);
        SLOG_WARN("pod CIDR %s is exhausted: no address for container "
                  "%.12s, %s",
                  ipam->cidr, container_id, ifname);
        return ENOSPC;
    }

    struct ipam_entry *e = calloc(1, sizeof *e);
    if (!e || ipam_reserve(ipam)) {
        free(e);
        ipam_set_error(err, err_size, "ipam: out of memory");
        return ENOMEM;
    }
    ipam_copy(e->alloc.container_id, sizeof e->alloc.container_id,
              container_id);
    ipam_copy(e->alloc.ifname, sizeof e->alloc.ifname, ifname);
    ipam_copy(e->alloc.pod_namespace, sizeof e->alloc.pod_namespace,
              pod_namespace);
    ipam_copy(e->alloc.pod_name, sizeof e->alloc.pod_name, pod_name);
    e->alloc.addr = ipam_offset_to_addr(ipam, offset);
    time_t now = time(NULL);
    e->alloc.allocated_at = now == (time_t)-1 ? 0 : now;
    e->offset = offset;

    /* Write the store with the new entry first: if that fails, nothing in
     * memory has changed yet. */
    error = ipam_persist(ipam, e, offset, err, err_size);
    if (error) {
        SLOG_ERR("container %.12s, %s: allocation not saved: %s", container_id,
                 ifname, err && err_size ? err : "");
        free(e);
        return error;
    }
    ipam_insert(ipam, e);
    ipam->last = offset;
    ipam_log_event("allocated", &e->alloc);

    *addr = e->alloc.addr;
    return 0;
}

int
ipam_release(struct ipam *ipam, const char *container_id, const char *ifname,
             bool *released, char *err, size_t err_size)
{
    if (released) {
        *released = false;
    }

    int error = ipam_check_key(container_id, ifname, err, err_size);
    if (error) {
        return error;
    }

    struct ipam_entry *e = ipam_find(ipam, container_id, ifname);
    if (!e) {
        SLOG_DBG("container %.12s, %s: nothing to release", container_id,
                 ifname);
        return 0;
    }

    e->doomed = true;
    error = ipam_persist(ipam, NULL, ipam->last, err, err_size);
    e->doomed = false;
    if (error) {
        SLOG_ERR("container %.12s, %s: release not saved: %s", container_id,
                 ifname, err && err_size ? err : "");
        return error;
    }

    ipam_remove(ipam, e);
    ipam_log_event("released", &e->alloc);
    free(e);
    if (released) {
        *released = true;
    }
    return 0;
}

int
ipam_gc(struct ipam *ipam, const struct ipam_attachment *valid, size_t n_valid,
        ipam_gc_cb *cb, void *aux, size_t *n_released, char *err,
        size_t err_size)
{
    if (n_released) {
        *n_released = 0;
    }

    /* Doom every entry, then spare the valid ones. */
    for (size_t i = 0; i < ipam->n_entries; i++) {
        ipam->entries[i]->doomed = true;
    }
    for (size_t i = 0; i < n_valid; i++) {
        if (valid[i].container_id && valid[i].ifname) {
            struct ipam_entry *e
                = ipam_find(ipam, valid[i].container_id, valid[i].ifname);
            if (e) {
                e->doomed = false;
            }
        }
    }

    size_t n_doomed = 0;
    for (size_t i = 0; i < ipam->n_entries; i++) {
        n_doomed += ipam->entries[i]->doomed;
    }

    int error = 0;
    if (n_doomed) {
        error = ipam_persist(ipam, NULL, ipam->last, err, err_size);
    }
    if (error) {
        for (size_t i = 0; i < ipam->n_entries; i++) {
            ipam->entries[i]->doomed = false;
        }
        SLOG_ERR("garbage collection of %zu allocations not saved: %s",
                 n_doomed, err && err_size ? err : "");
        return error;
    }

    for (size_t i = 0; i < ipam->n_entries;) {
        struct ipam_entry *e = ipam->entries[i];
        if (e->doomed) {
            ipam_remove(ipam, e);
            ipam_log_event("garbage collected", &e->alloc);
            if (cb) {
                cb(&e->alloc, aux);
            }
            free(e);
        } else {
            i++;
        }
    }
    if (n_released) {
        *n_released = n_doomed;
    }
    return 0;
}

const struct ipam_allocation *
ipam_lookup(const struct ipam *ipam, const char *container_id,
            const char *ifname)
{
    if (!container_id || !ifname) {
        return NULL;
    }
    const struct ipam_entry *e = ipam_find(ipam, container_id, ifname);
    return e ? &e->alloc : NULL;
}

const struct ipam_allocation *
ipam_lookup_addr(const struct ipam *ipam, struct in_addr addr)
{
    uint32_t offset;
    if (!ipam_addr_to_offset(ipam, addr, &offset)) {
        return NULL;
    }
    size_t i = ipam_entry_index(ipam, offset);
    return (i < ipam->n_entries && ipam->entries[i]->offset == offset
                ? &ipam->entries[i]->alloc
                : NULL);
}

size_t
ipam_n_allocations(const struct ipam *ipam)
{
    return ipam->n_entries;
}

const struct ipam_allocation *
ipam_allocation_at(const struct ipam *ipam, size_t i)
{
    return i < ipam->n_entries ? &ipam->entries[i]->alloc : NULL;
}

struct in_addr
ipam_gateway(const struct ipam *ipam)
{
    return ipam_offset_to_addr(ipam, 1);
}

struct in_addr
ipam_network(const struct ipam *ipam)
{
    return ipam_offset_to_addr(ipam, 0);
}

unsigned int
ipam_prefix_len(const struct ipam *ipam)
{
    return ipam->prefix_len;
}

const char *
ipam_cidr(const struct ipam *ipam)
{
    return ipam->cidr;
}

void
ipam_usage(const struct ipam *ipam, size_t *total, size_t *used)
{
    if (total) {
        *total = ipam->size - 3;
    }
    if (used) {
        *used = ipam->n_entries;
    }
}

int
ipam_stored_cidr(const char *state_dir, char *cidr, size_t cidr_size)
{
    char *path;
    if (asprintf(&path, "%s/%s", state_dir, IPAM_STORE_NAME) < 0) {
        return ENOMEM;
    }
    if (access(path, F_OK)) {
        int error = errno;
        free(path);
        return error;
    }
    json_error_t jerror;
    json_t *root = json_load_file(path, 0, &jerror);
    free(path);
    if (!root) {
        return EBADMSG;
    }
    const char *s = json_string_value(json_object_get(root, "cidr"));
    int error = 0;
    if (!s) {
        error = EBADMSG;
    } else if ((size_t) snprintf(cidr, cidr_size, "%s", s) >= cidr_size) {
        error = ENAMETOOLONG;
    }
    json_decref(root);
    return error;
}
