#include <sluice-config.h>

#include "sluice/egress-model.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fnmatch.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Error messages. */

/* At most this many bytes of an offending input are quoted in a message. */
#define ITEM_SHOW 64

/* Arguments for "%.*s%s" that print the 'LEN' bytes at 'S', cut after
 * ITEM_SHOW bytes with "...". */
#define ITEM_ARGS(S, LEN)                                                     \
    (int)((LEN) > ITEM_SHOW ? ITEM_SHOW : (LEN)), (S),                        \
        ((LEN) > ITEM_SHOW ? "..." : "")

/* Room for "pool 'NAME'" or "egress 'NAME'" with a name of any length. */
#define CTX_SIZE 96

static void egress_error(char *err, size_t err_size, const char *ctx,
                         const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Marks a string cut to fit 'size' bytes with a trailing "...". */
static void
mark_truncated(char *s, size_t size, int n)
{
    if (n >= 0 && (size_t)n >= size && size >= 4) {
        memcpy(s + size - 4, "...", 4);
    }
}

/* Formats "CTX: message" (or just the message if 'ctx' is NULL) into 'err'
 * as a single line: control characters become '?' and a message that does
 * not fit ends in "...". */
static void
egress_error(char *err, size_t err_size, const char *ctx, const char *fmt, ...)
{
    if (!err || !err_size) {
        return;
    }

    char msg[512];
    va_list args;
    va_start(args, fmt);
    int n = vsnprintf(msg, sizeof msg, fmt, args);
    va_end(args);
    if (n < 0) {
        snprintf(msg, sizeof msg, "cannot format error message");
    } else {
        mark_truncated(msg, sizeof msg, n);
    }

    n = ctx ? snprintf(err, err_size, "%s: %s", ctx, msg)
            : snprintf(err, err_size, "%s", msg);
    if (n < 0) {
        snprintf(err, err_size, "cannot format error message");
    } else {
        mark_truncated(err, err_size, n);
    }
    for (char *p = err; *p; p++) {
        if ((unsigned char)*p < 0x20 || *p == 0x7f) {
            *p = '?';
        }
    }
}

static void
nomem(char *err, size_t err_size, const char *ctx)
{
    egress_error(err, err_size, ctx, "out of memory");
}

/* Writes "KIND 'NAME'" into 'ctx' (CTX_SIZE bytes). */
static const char *
object_ctx(char *ctx, const char *kind, const char *name)
{
    int n = snprintf(ctx, CTX_SIZE, "%s '%.63s'", kind, name ? name : "?");
    mark_truncated(ctx, CTX_SIZE, n);
    return ctx;
}

/* Character classes, independent of the locale. */

static bool
is_lower_alnum(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

static bool
is_alnum(char c)
{
    return is_lower_alnum(c) || (c >= 'A' && c <= 'Z');
}

/* Returns true if the 'len' bytes at 's' are an RFC 1123 DNS label. */
static bool
dns_label_valid(const char *s, size_t len)
{
    if (!len || len > 63 || !is_lower_alnum(s[0])
        || !is_lower_alnum(s[len - 1])) {
        return false;
    }
    for (size_t i = 0; i < len; i++) {
        if (!is_lower_alnum(s[i]) && s[i] != '-') {
            return false;
        }
    }
    return true;
}

/* Returns true if the 'len' bytes at 's' are an RFC 1123 DNS subdomain. */
static bool
dns_subdomain_valid(const char *s, size_t len)
{
    if (!len || len > EGRESS_NODE_NAME_MAX) {
        return false;
    }
    const char *end = s + len;
    while (s <= end) {
        const char *dot = memchr(s, '.', end - s);
        const char *label_end = dot ? dot : end;
        if (!dns_label_valid(s, label_end - s)) {
            return false;
        }
        s = label_end + 1;
    }
    return true;
}

/* Returns true if the 'len' bytes at 's' are the name part of a Kubernetes
 * label key, or a nonempty label value. */
static bool
label_name_valid(const char *s, size_t len)
{
    if (!len || len > 63 || !is_alnum(s[0]) || !is_alnum(s[len - 1])) {
        return false;
    }
    for (size_t i = 0; i < len; i++) {
        if (!is_alnum(s[i]) && s[i] != '-' && s[i] != '_' && s[i] != '.') {
            return false;
        }
    }
    return true;
}

static bool
label_key_valid(const char *s, size_t len)
{
    if (len > EGRESS_LABEL_KEY_MAX) {
        return false;
    }
    const char *slash = memchr(s, '/', len);
    if (!slash) {
        return label_name_valid(s, len);
    }
    size_t prefix_len = slash - s;
    return (dns_subdomain_valid(s, prefix_len)
            && label_name_valid(slash + 1, len - prefix_len - 1));
}

static bool
label_value_valid(const char *s, size_t len)
{
    return !len || label_name_valid(s, len);
}

bool
egress_name_is_valid(const char *name)
{
    return name && dns_label_valid(name, strnlen(name, 64));
}

static void
bad_name(char *err, size_t err_size, const char *kind, const char *name)
{
    if (!name) {
        egress_error(err, err_size, NULL, "%s has no name", kind);
        return;
    }
    size_t len = strlen(name);
    egress_error(err, err_size, NULL,
                 "invalid %s name '%.*s%s': use 1 to 63 of [a-z0-9-], "
                 "beginning and ending with a letter or digit",
                 kind, ITEM_ARGS(name, len));
}

/* Globs. */

static bool
is_glob_name_char(char c)
{
    return is_lower_alnum(c) || c == '.' || c == '-';
}

/* Returns NULL if the 'len' bytes at 's' are an acceptable glob, otherwise
 * what is wrong with them. */
static const char *
glob_problem(const char *s, size_t len)
{
    if (!len) {
        return "empty pattern";
    }
    if (len > EGRESS_GLOB_MAX) {
        return "longer than 253 characters";
    }
    size_t i = 0;
    while (i < len) {
        char c = s[i];
        if (c == '[') {
            i++;
            if (i < len && s[i] == '!') {
                i++;
            }
            size_t start = i;
            while (i < len && s[i] != ']') {
                if (s[i] == '[') {
                    return "'[' inside a [class]";
                }
                if (!is_glob_name_char(s[i])) {
                    return "invalid character in a [class]";
                }
                if (i + 2 < len && s[i + 1] == '-' && s[i + 2] != ']') {
                    if (!is_glob_name_char(s[i + 2])) {
                        return "invalid character in a [class]";
                    }
                    if (s[i] > s[i + 2]) {
                        return "descending range in a [class]";
                    }
                    i += 3;
                } else {
                    i++;
                }
            }
            if (i >= len) {
                return "unbalanced '['";
            }
            if (i == start) {
                return "empty [class]";
            }
            i++;
        } else if (c == ']') {
            return "unbalanced ']'";
        } else if (c == '!') {
            return "'!' outside a [class]";
        } else if (c == '*' || c == '?' || is_glob_name_char(c)) {
            i++;
        } else {
            return "invalid character (use [a-z0-9.-] and * ? [ ] !)";
        }
    }
    return NULL;
}

int
egress_check_glob(const char *glob, const char *ctx, const char *what,
                  char *err, size_t err_size)
{
    if (!glob) {
        egress_error(err, err_size, ctx, "%s: missing", what);
        return EINVAL;
    }
    size_t len = strnlen(glob, EGRESS_GLOB_MAX + 1);
    const char *problem = glob_problem(glob, len);
    if (problem) {
        egress_error(err, err_size, ctx, "%s '%.*s%s': %s", what,
                     ITEM_ARGS(glob, len), problem);
        return EINVAL;
    }
    return 0;
}

/* Addresses. */

/* Address blocks that are never egress IPs: "this network", loopback,
 * multicast and reserved (including the limited broadcast address). */
static const struct egress_range reserved_blocks[] = {
    {0x00000000, 0x00ffffff, 8},
    {0x7f000000, 0x7fffffff, 8},
    {0xe0000000, 0xffffffff, 3},
};

/* Returns true if ['first', 'last'] holds only unicast addresses; otherwise
 * stores the lowest offending address into '*bad'. */
static bool
addresses_unicast(uint32_t first, uint32_t last, uint32_t *bad)
{
    for (size_t i = 0; i < sizeof reserved_blocks / sizeof *reserved_blocks;
         i++) {
        const struct egress_range *b = &reserved_blocks[i];
        if (first <= b->last && b->first <= last) {
            *bad = first > b->first ? first : b->first;
            return false;
        }
    }
    return true;
}

static uint32_t
prefix_mask(unsigned int prefix_len)
{
    return prefix_len ? UINT32_MAX << (32 - prefix_len) : 0;
}

char *
egress_ip_to_string(uint32_t ip, char buf[EGRESS_IP_STRLEN])
{
    snprintf(buf, EGRESS_IP_STRLEN, "%u.%u.%u.%u", (unsigned int)(ip >> 24),
             (unsigned int)((ip >> 16) & 0xff),
             (unsigned int)((ip >> 8) & 0xff), (unsigned int)(ip & 0xff));
    return buf;
}

char *
egress_range_to_string(const struct egress_range *range,
                       char buf[EGRESS_RANGE_STRLEN])
{
    char a[EGRESS_IP_STRLEN], b[EGRESS_IP_STRLEN];

    if (range->prefix_len) {
        uint32_t network = range->first & prefix_mask(range->prefix_len);
        snprintf(buf, EGRESS_RANGE_STRLEN, "%s/%u",
                 egress_ip_to_string(network, a), range->prefix_len);
    } else if (range->first == range->last) {
        snprintf(buf, EGRESS_RANGE_STRLEN, "%s",
                 egress_ip_to_string(range->first, a));
    } else {
        snprintf(buf, EGRESS_RANGE_STRLEN, "%s-%s",
                 egress_ip_to_string(range->first, a),
                 egress_ip_to_string(range->last, b));
    }
    return buf;
}

char *
egress_cidr_to_string(const struct egress_cidr *cidr,
                      char buf[EGRESS_CIDR_STRLEN])
{
    char a[EGRESS_IP_STRLEN];
    snprintf(buf, EGRESS_CIDR_STRLEN, "%s/%u",
             egress_ip_to_string(cidr->network, a), cidr->prefix_len);
    return buf;
}

/* Parses the 'len' bytes at 's' as a dotted-quad address. */
static bool
parse_ip_item(const char *s, size_t len, uint32_t *ip)
{
    char buf[INET_ADDRSTRLEN];
    struct in_addr addr;

    if (!len || len >= sizeof buf) {
        return false;
    }
    memcpy(buf, s, len);
    buf[len] = '\0';
    if (inet_pton(AF_INET, buf, &addr) != 1) {
        return false;
    }
    *ip = ntohl(addr.s_addr);
    return true;
}

/* Parses the 'len' bytes at 's' as a prefix length 0..32 without leading
 * zeros. */
static bool
parse_prefix_len(const char *s, size_t len, unsigned int *prefix_len)
{
    if (!len || len > 2 || (len == 2 && s[0] == '0')) {
        return false;
    }
    unsigned int value = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return false;
        }
        value = value * 10 + (unsigned int)(s[i] - '0');
    }
    if (value > 32) {
        return false;
    }
    *prefix_len = value;
    return true;
}

int
egress_parse_ip(const char *s, const char *ctx, uint32_t *ip, char *err,
                size_t err_size)
{
    if (!s) {
        egress_error(err, err_size, ctx, "no IP address given");
        return EINVAL;
    }
    size_t len = strnlen(s, INET_ADDRSTRLEN + 1);
    if (!parse_ip_item(s, len, ip)) {
        egress_error(err, err_size, ctx, "'%.*s%s' is not an IPv4 address",
                     ITEM_ARGS(s, len));
        return EINVAL;
    }
    return 0;
}

/* Comma-separated lists. */

/* A piece of a string (not null-terminated). */
struct item {
    const char *s;
    size_t len;
};

/* A key and a value. */
struct pair {
    struct item key;
    struct item value;
};

static bool
is_blank(char c)
{
    return c == ' ' || c == '\t';
}

/* Splits 's' (NULL or blank: no items) at commas into at most 'max' items
 * without surrounding blanks, stored in a new array '*itemsp' (NULL if
 * there are none) of '*n_itemsp' elements. */
static int
split_list(const char *s, size_t max, const char *ctx, const char *what,
           struct item **itemsp, size_t *n_itemsp, char *err, size_t err_size)
{
    *itemsp = NULL;
    *n_itemsp = 0;
    if (!s || !s[strspn(s, " \t")]) {
        return 0;
    }

    size_t n = 1;
    for (const char *p = s; *p; p++) {
        n += *p == ',';
    }
    if (n > max) {
        egress_error(err, err_size, ctx,
                     "%s: too many items (%zu, at most %zu)", what, n, max);
        return EINVAL;
    }
    struct item *items = calloc(n, sizeof *items);
    if (!items) {
        nomem(err, err_size, ctx);
        return ENOMEM;
    }

    size_t i = 0;
    const char *start = s;
    for (;;) {
        const char *end = strchrnul(start, ',');
        const char *a = start, *b = end;
        while (a < b && is_blank(*a)) {
            a++;
        }
        while (b > a && is_blank(b[-1])) {
            b--;
        }
        if (a == b) {
            egress_error(err, err_size, ctx, "%s: empty item in '%.*s%s'",
                         what, ITEM_ARGS(s, strlen(s)));
            free(items);
            return EINVAL;
        }
        items[i].s = a;
        items[i].len = b - a;
        i++;
        if (!*end) {
            break;
        }
        start = end + 1;
    }
    *itemsp = items;
    *n_itemsp = i;
    return 0;
}

/* Ranges. */

/* Parses one pool range "A-B", "A" or "N/P" from the 'len' bytes at 's'. */
static int
parse_range_item(const char *s, size_t len, const char *ctx,
                 struct egress_range *range, char *err, size_t err_size)
{
    const char *slash = memchr(s, '/', len);
    const char *dash = memchr(s, '-', len);
    uint32_t first, last;
    unsigned int prefix_len = 0;

    if (slash) {
        size_t ip_len = slash - s;
        if (!parse_ip_item(s, ip_len, &first)) {
            egress_error(err, err_size, ctx,
                         "range %.*s%s: '%.*s%s' is not an IPv4 address",
                         ITEM_ARGS(s, len), ITEM_ARGS(s, ip_len));
            return EINVAL;
        }
        if (!parse_prefix_len(slash + 1, len - ip_len - 1, &prefix_len)
            || prefix_len < 8) {
            egress_error(err, err_size, ctx,
                         "range %.*s%s: prefix length must be 8..32",
                         ITEM_ARGS(s, len));
            return EINVAL;
        }
        uint32_t mask = prefix_mask(prefix_len);
        if (first & ~mask) {
            egress_error(err, err_size, ctx, "range %.*s%s: host bits set",
                         ITEM_ARGS(s, len));
            return EINVAL;
        }
        last = first | ~mask;
        if (prefix_len < 31) {
            first++;
            last--;
        }
    } else if (dash) {
        size_t first_len = dash - s;
        if (!parse_ip_item(s, first_len, &first)) {
            egress_error(err, err_size, ctx,
                         "range %.*s%s: '%.*s%s' is not an IPv4 address",
                         ITEM_ARGS(s, len), ITEM_ARGS(s, first_len));
            return EINVAL;
        }
        const char *b = dash + 1;
        size_t b_len = len - first_len - 1;
        if (!parse_ip_item(b, b_len, &last)) {
            egress_error(err, err_size, ctx,
                         "range %.*s%s: '%.*s%s' is not an IPv4 address",
                         ITEM_ARGS(s, len), ITEM_ARGS(b, b_len));
            return EINVAL;
        }
        if (first > last) {
            egress_error(err, err_size, ctx, "range %.*s%s: start after end",
                         ITEM_ARGS(s, len));
            return EINVAL;
        }
    } else {
        if (!parse_ip_item(s, len, &first)) {
            egress_error(err, err_size, ctx,
                         "range %.*s%s: not an IPv4 address, A-B or CIDR",
                         ITEM_ARGS(s, len));
            return EINVAL;
        }
        last = first;
    }

    uint32_t bad;
    if (!addresses_unicast(first, last, &bad)) {
        char b[EGRESS_IP_STRLEN];
        egress_error(err, err_size, ctx,
                     "range %.*s%s: holds non-unicast address %s",
                     ITEM_ARGS(s, len), egress_ip_to_string(bad, b));
        return EINVAL;
    }
    range->first = first;
    range->last = last;
    range->prefix_len = prefix_len;
    return 0;
}

static int
range_cmp(const void *a_, const void *b_)
{
    const struct egress_range *a = a_, *b = b_;
    if (a->first != b->first) {
        return a->first < b->first ? -1 : 1;
    }
    return a->last < b->last ? -1 : a->last > b->last;
}

/* Checks that the 'n' ranges, sorted by range_cmp(), are disjoint. */
static int
check_ranges_disjoint(const struct egress_range *ranges, size_t n,
                      const char *ctx, char *err, size_t err_size)
{
    for (size_t i = 1; i < n; i++) {
        if (ranges[i].first <= ranges[i - 1].last
            || range_cmp(&ranges[i - 1], &ranges[i]) > 0) {
            char a[EGRESS_RANGE_STRLEN], b[EGRESS_RANGE_STRLEN];
            egress_error(err, err_size, ctx, "ranges %s and %s overlap",
                         egress_range_to_string(&ranges[i - 1], a),
                         egress_range_to_string(&ranges[i], b));
            return EINVAL;
        }
    }
    return 0;
}

static int
ranges_from_items(const struct item *items, size_t n, const char *ctx,
                  struct egress_range **rangesp, size_t *n_rangesp, char *err,
                  size_t err_size)
{
    if (!n) {
        egress_error(err, err_size, ctx, "no ranges");
        return EINVAL;
    }
    if (n > EGRESS_MAX_RANGES) {
        egress_error(err, err_size, ctx, "too many ranges (%zu, at most %d)",
                     n, EGRESS_MAX_RANGES);
        return EINVAL;
    }
    struct egress_range *ranges = calloc(n, sizeof *ranges);
    if (!ranges) {
        nomem(err, err_size, ctx);
        return ENOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        int error = parse_range_item(items[i].s, items[i].len, ctx, &ranges[i],
                                     err, err_size);
        if (error) {
            free(ranges);
            return error;
        }
    }
    qsort(ranges, n, sizeof *ranges, range_cmp);
    int error = check_ranges_disjoint(ranges, n, ctx, err, err_size);
    if (error) {
        free(ranges);
        return error;
    }
    *rangesp = ranges;
    *n_rangesp = n;
    return 0;
}

int
egress_parse_ranges(const char *s, const char *ctx,
                    struct egress_range **rangesp, size_t *n_rangesp,
                    char *err, size_t err_size)
{
    struct item *items;
    size_t n;
    int error = split_list(s, EGRESS_MAX_RANGES, ctx, "ranges", &items, &n,
                           err, err_size);
    if (!error) {
        error = ranges_from_items(items, n, ctx, rangesp, n_rangesp, err,
                                  err_size);
        free(items);
    }
    return error;
}

/* Nodes. */

static int
str_ptr_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void
free_strings(char **strings, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(strings[i]);
    }
    free(strings);
}

static int
nodes_from_items(const struct item *items, size_t n, const char *ctx,
                 char ***nodesp, size_t *n_nodesp, char *err, size_t err_size)
{
    if (n > EGRESS_MAX_NODES) {
        egress_error(err, err_size, ctx, "too many nodes (%zu, at most %d)", n,
                     EGRESS_MAX_NODES);
        return EINVAL;
    }
    for (size_t i = 0; i < n; i++) {
        if (!dns_subdomain_valid(items[i].s, items[i].len)) {
            egress_error(err, err_size, ctx,
                         "node '%.*s%s': not a valid node name (DNS "
                         "subdomain)",
                         ITEM_ARGS(items[i].s, items[i].len));
            return EINVAL;
        }
    }

    char **nodes = n ? calloc(n, sizeof *nodes) : NULL;
    if (n && !nodes) {
        nomem(err, err_size, ctx);
        return ENOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        nodes[i] = strndup(items[i].s, items[i].len);
        if (!nodes[i]) {
            free_strings(nodes, n);
            nomem(err, err_size, ctx);
            return ENOMEM;
        }
    }
    if (n) {
        qsort(nodes, n, sizeof *nodes, str_ptr_cmp);
    }
    for (size_t i = 1; i < n; i++) {
        if (!strcmp(nodes[i - 1], nodes[i])) {
            egress_error(err, err_size, ctx, "duplicate node '%s'", nodes[i]);
            free_strings(nodes, n);
            return EINVAL;
        }
    }
    *nodesp = nodes;
    *n_nodesp = n;
    return 0;
}

int
egress_parse_nodes(const char *s, const char *ctx, char ***nodesp,
                   size_t *n_nodesp, char *err, size_t err_size)
{
    struct item *items;
    size_t n;
    int error = split_list(s, EGRESS_MAX_NODES, ctx, "nodes", &items, &n, err,
                           err_size);
    if (!error) {
        error
            = nodes_from_items(items, n, ctx, nodesp, n_nodesp, err, err_size);
        free(items);
    }
    return error;
}

/* Labels. */

void
egress_labels_destroy(struct egress_labels *labels)
{
    if (labels) {
        for (size_t i = 0; i < labels->n; i++) {
            free(labels->items[i].key);
            free(labels->items[i].value);
        }
        free(labels->items);
        labels->items = NULL;
        labels->n = 0;
    }
}

static int
label_cmp(const void *a_, const void *b_)
{
    const struct egress_label *a = a_, *b = b_;
    return strcmp(a->key, b->key);
}

static int
labels_from_pairs(const struct pair *pairs, size_t n, const char *ctx,
                  const char *what, struct egress_labels *labels, char *err,
                  size_t err_size)
{
    if (n > EGRESS_MAX_LABELS) {
        egress_error(err, err_size, ctx,
                     "%s: too many pairs (%zu, at most %d)", what, n,
                     EGRESS_MAX_LABELS);
        return EINVAL;
    }
    for (size_t i = 0; i < n; i++) {
        const struct item *k = &pairs[i].key, *v = &pairs[i].value;
        if (!label_key_valid(k->s, k->len)) {
            egress_error(err, err_size, ctx, "%s: invalid key '%.*s%s'", what,
                         ITEM_ARGS(k->s, k->len));
            return EINVAL;
        }
        if (!label_value_valid(v->s, v->len)) {
            egress_error(err, err_size, ctx,
                         "%s: invalid value '%.*s%s' for key '%.*s%s'", what,
                         ITEM_ARGS(v->s, v->len), ITEM_ARGS(k->s, k->len));
            return EINVAL;
        }
    }

    struct egress_labels new = {NULL, 0};
    if (n) {
        new.items = calloc(n, sizeof *new.items);
        if (!new.items) {
            nomem(err, err_size, ctx);
            return ENOMEM;
        }
    }
    for (size_t i = 0; i < n; i++) {
        struct egress_label *l = &new.items[i];
        l->key = strndup(pairs[i].key.s, pairs[i].key.len);
        l->value = strndup(pairs[i].value.s, pairs[i].value.len);
        new.n++;
        if (!l->key || !l->value) {
            egress_labels_destroy(&new);
            nomem(err, err_size, ctx);
            return ENOMEM;
        }
    }
    if (n) {
        qsort(new.items, n, sizeof *new.items, label_cmp);
    }
    for (size_t i = 1; i < n; i++) {
        if (!strcmp(new.items[i - 1].key, new.items[i].key)) {
            egress_error(err, err_size, ctx, "%s: duplicate key '%s'", what,
                         new.items[i].key);
            egress_labels_destroy(&new);
            return EINVAL;
        }
    }
    *labels = new;
    return 0;
}

int
egress_parse_labels(const char *s, const char *ctx, const char *what,
                    struct egress_labels *labels, char *err, size_t err_size)
{
    struct item *items;
    size_t n;
    int error = split_list(s, EGRESS_MAX_LABELS, ctx, what, &items, &n, err,
                           err_size);
    if (error) {
        return error;
    }

    struct pair *pairs = n ? calloc(n, sizeof *pairs) : NULL;
    if (n && !pairs) {
        free(items);
        nomem(err, err_size, ctx);
        return ENOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        const char *eq = memchr(items[i].s, '=', items[i].len);
        if (!eq) {
            egress_error(err, err_size, ctx, "%s: '%.*s%s' is not key=value",
                         what, ITEM_ARGS(items[i].s, items[i].len));
            error = EINVAL;
            break;
        }
        pairs[i].key.s = items[i].s;
        pairs[i].key.len = eq - items[i].s;
        pairs[i].value.s = eq + 1;
        pairs[i].value.len = items[i].len - pairs[i].key.len - 1;
    }
    if (!error) {
        error = labels_from_pairs(pairs, n, ctx, what, labels, err, err_size);
    }
    free(pairs);
    free(items);
    return error;
}

/* Checks 'labels' as the parsers would have built it. */
static int
labels_validate(const struct egress_labels *labels, const char *ctx,
                const char *what, char *err, size_t err_size)
{
    if (labels->n > EGRESS_MAX_LABELS || (labels->n && !labels->items)) {
        egress_error(err, err_size, ctx, "%s: too many pairs", what);
        return EINVAL;
    }
    for (size_t i = 0; i < labels->n; i++) {
        const struct egress_label *l = &labels->items[i];
        if (!l->key || !label_key_valid(l->key, strlen(l->key)) || !l->value
            || !label_value_valid(l->value, strlen(l->value))) {
            egress_error(err, err_size, ctx, "%s: invalid pair %zu", what, i);
            return EINVAL;
        }
        if (i && strcmp(labels->items[i - 1].key, l->key) >= 0) {
            egress_error(err, err_size, ctx,
                         "%s: keys not sorted or not unique", what);
            return EINVAL;
        }
    }
    return 0;
}

static bool
labels_equal(const struct egress_labels *a, const struct egress_labels *b)
{
    if (a->n != b->n) {
        return false;
    }
    for (size_t i = 0; i < a->n; i++) {
        if (strcmp(a->items[i].key, b->items[i].key)
            || strcmp(a->items[i].value, b->items[i].value)) {
            return false;
        }
    }
    return true;
}

static const char *
labels_find(const struct egress_labels *labels, const char *key)
{
    for (size_t i = 0; labels && i < labels->n; i++) {
        if (!strcmp(labels->items[i].key, key)) {
            return labels->items[i].value;
        }
    }
    return NULL;
}

bool
egress_labels_match(const struct egress_labels *selector,
                    const struct egress_labels *labels)
{
    for (size_t i = 0; i < selector->n; i++) {
        const char *value = labels_find(labels, selector->items[i].key);
        if (!value || strcmp(value, selector->items[i].value)) {
            return false;
        }
    }
    return true;
}

/* JSON helpers. */

/* Makes 'item' refer to the string 'json'.  Returns false if 'json' is not
 * a string or holds a null byte. */
static bool
json_item(const json_t *json, struct item *item)
{
    if (!json_is_string(json)) {
        return false;
    }
    item->s = json_string_value(json);
    item->len = json_string_length(json);
    return strlen(item->s) == item->len;
}

/* Collects the strings of the JSON array 'json' (member 'member') into a
 * new array '*itemsp' of at most 'max' items (NULL if empty). */
static int
json_array_items(const json_t *json, const char *ctx, const char *member,
                 size_t max, struct item **itemsp, size_t *n_itemsp, char *err,
                 size_t err_size)
{
    *itemsp = NULL;
    *n_itemsp = 0;
    if (!json_is_array(json)) {
        egress_error(err, err_size, ctx, "'%s' is not an array", member);
        return EINVAL;
    }
    size_t n = json_array_size(json);
    if (n > max) {
        egress_error(err, err_size, ctx,
                     "'%s': too many items (%zu, at most %zu)", member, n,
                     max);
        return EINVAL;
    }
    if (!n) {
        return 0;
    }
    struct item *items = calloc(n, sizeof *items);
    if (!items) {
        nomem(err, err_size, ctx);
        return ENOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        if (!json_item(json_array_get(json, i), &items[i])) {
            egress_error(err, err_size, ctx, "'%s'[%zu] is not a string",
                         member, i);
            free(items);
            return EINVAL;
        }
    }
    *itemsp = items;
    *n_itemsp = n;
    return 0;
}

/* Decodes the JSON object 'json' of string values (member 'member') into
 * 'labels'. */
static int
json_object_labels(const json_t *json, const char *ctx, const char *member,
                   struct egress_labels *labels, char *err, size_t err_size)
{
    if (!json_is_object(json)) {
        egress_error(err, err_size, ctx, "'%s' is not an object", member);
        return EINVAL;
    }
    size_t n = json_object_size(json);
    if (n > EGRESS_MAX_LABELS) {
        egress_error(err, err_size, ctx,
                     "'%s': too many pairs (%zu, at most %d)", member, n,
                     EGRESS_MAX_LABELS);
        return EINVAL;
    }
    struct pair *pairs = n ? calloc(n, sizeof *pairs) : NULL;
    if (n && !pairs) {
        nomem(err, err_size, ctx);
        return ENOMEM;
    }

    size_t i = 0;
    const char *key;
    json_t *value;
    json_object_foreach ((json_t *)json, key, value) {
        size_t key_len = strlen(key);
        if (i >= n || !json_item(value, &pairs[i].value)) {
            egress_error(err, err_size, ctx,
                         "'%s': value of '%.*s%s' is not a string", member,
                         ITEM_ARGS(key, key_len));
            free(pairs);
            return EINVAL;
        }
        pairs[i].key.s = key;
        pairs[i].key.len = key_len;
        i++;
    }
    int error
        = labels_from_pairs(pairs, i, ctx, member, labels, err, err_size);
    free(pairs);
    return error;
}

/* Decodes the CNI args.cni.labels form [{"key": K, "value": V}, ...]. */
static int
json_array_labels(const json_t *json, const char *ctx, const char *what,
                  struct egress_labels *labels, char *err, size_t err_size)
{
    size_t n = json_array_size(json);
    if (n > EGRESS_MAX_LABELS) {
        egress_error(err, err_size, ctx,
                     "%s: too many pairs (%zu, at most %d)", what, n,
                     EGRESS_MAX_LABELS);
        return EINVAL;
    }
    struct pair *pairs = n ? calloc(n, sizeof *pairs) : NULL;
    if (n && !pairs) {
        nomem(err, err_size, ctx);
        return ENOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        const json_t *elem = json_array_get(json, i);
        if (!json_is_object(elem) || json_object_size(elem) != 2
            || !json_item(json_object_get(elem, "key"), &pairs[i].key)
            || !json_item(json_object_get(elem, "value"), &pairs[i].value)) {
            egress_error(err, err_size, ctx,
                         "%s: element %zu is not {\"key\": string, "
                         "\"value\": string}",
                         what, i);
            free(pairs);
            return EINVAL;
        }
    }
    int error = labels_from_pairs(pairs, n, ctx, what, labels, err, err_size);
    free(pairs);
    return error;
}

int
egress_labels_from_json(const json_t *json, const char *ctx,
                        struct egress_labels *labels, char *err,
                        size_t err_size)
{
    if (!json || json_is_null(json)) {
        labels->items = NULL;
        labels->n = 0;
        return 0;
    } else if (json_is_object(json)) {
        return json_object_labels(json, ctx, "pod labels", labels, err,
                                  err_size);
    } else if (json_is_array(json)) {
        return json_array_labels(json, ctx, "pod labels", labels, err,
                                 err_size);
    }
    egress_error(err, err_size, ctx, "pod labels: not a JSON object or array");
    return EINVAL;
}

/* Parses the 'len' bytes at 's' as a JSON value ('what' names it) into a
 * new reference '*jsonp'. */
static int
load_json(const char *s, size_t len, const char *what, json_t **jsonp,
          char *err, size_t err_size)
{
    *jsonp = NULL;
    if (!s) {
        egress_error(err, err_size, what, "no JSON text");
        return EINVAL;
    }
    if (len > EGRESS_JSON_MAX) {
        egress_error(err, err_size, what,
                     "JSON text of %zu bytes exceeds the limit of %d", len,
                     EGRESS_JSON_MAX);
        return EINVAL;
    }

    json_error_t jerr;
    json_t *json
        = json_loadb(s, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
    if (!json) {
        if (json_error_code(&jerr) == json_error_out_of_memory) {
            nomem(err, err_size, what);
            return ENOMEM;
        }
        egress_error(err, err_size, what,
                     "invalid JSON at line %d, column %d: %s", jerr.line,
                     jerr.column, jerr.text);
        return EINVAL;
    }
    *jsonp = json;
    return 0;
}

int
egress_parse_labels_json(const char *s, const char *ctx,
                         struct egress_labels *labels, char *err,
                         size_t err_size)
{
    if (!s) {
        labels->items = NULL;
        labels->n = 0;
        return 0;
    }

    json_t *json;
    int error = load_json(s, strlen(s), ctx ? ctx : "pod labels", &json, err,
                          err_size);
    if (!error) {
        error = egress_labels_from_json(json, ctx, labels, err, err_size);
        json_decref(json);
    }
    return error;
}

/* CIDRs. */

static int
cidr_cmp(const void *a_, const void *b_)
{
    const struct egress_cidr *a = a_, *b = b_;
    if (a->network != b->network) {
        return a->network < b->network ? -1 : 1;
    }
    return (a->prefix_len > b->prefix_len) - (a->prefix_len < b->prefix_len);
}

static int
cidrs_from_items(const struct item *items, size_t n, const char *ctx,
                 const char *what, struct egress_cidr **cidrsp,
                 size_t *n_cidrsp, char *err, size_t err_size)
{
    if (n > EGRESS_MAX_EXEMPT) {
        egress_error(err, err_size, ctx, "too many %ss (%zu, at most %d)",
                     what, n, EGRESS_MAX_EXEMPT);
        return EINVAL;
    }
    struct egress_cidr *cidrs = n ? calloc(n, sizeof *cidrs) : NULL;
    if (n && !cidrs) {
        nomem(err, err_size, ctx);
        return ENOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        const char *s = items[i].s;
        size_t len = items[i].len;
        const char *slash = memchr(s, '/', len);
        size_t ip_len = slash ? (size_t)(slash - s) : len;
        unsigned int prefix_len = 32;

        if (!parse_ip_item(s, ip_len, &cidrs[i].network)) {
            egress_error(err, err_size, ctx,
                         "%s %.*s%s: '%.*s%s' is not an IPv4 address", what,
                         ITEM_ARGS(s, len), ITEM_ARGS(s, ip_len));
            free(cidrs);
            return EINVAL;
        }
        if (slash
            && !parse_prefix_len(slash + 1, len - ip_len - 1, &prefix_len)) {
            egress_error(err, err_size, ctx,
                         "%s %.*s%s: prefix length must be 0..32", what,
                         ITEM_ARGS(s, len));
            free(cidrs);
            return EINVAL;
        }
        if (cidrs[i].network & ~prefix_mask(prefix_len)) {
            egress_error(err, err_size, ctx, "%s %.*s%s: host bits set", what,
                         ITEM_ARGS(s, len));
            free(cidrs);
            return EINVAL;
        }
        cidrs[i].prefix_len = prefix_len;
    }
    if (n) {
        qsort(cidrs, n, sizeof *cidrs, cidr_cmp);
    }
    for (size_t i = 1; i < n; i++) {
        if (!cidr_cmp(&cidrs[i - 1], &cidrs[i])) {
            char buf[EGRESS_CIDR_STRLEN];
            egress_error(err, err_size, ctx, "duplicate %s %s", what,
                         egress_cidr_to_string(&cidrs[i], buf));
            free(cidrs);
            return EINVAL;
        }
    }
    *cidrsp = cidrs;
    *n_cidrsp = n;
    return 0;
}

static int
parse_cidrs(const char *s, const char *ctx, const char *what,
            struct egress_cidr **cidrsp, size_t *n_cidrsp, char *err,
            size_t err_size)
{
    struct item *items;
    size_t n;
    int error = split_list(s, EGRESS_MAX_EXEMPT, ctx, what, &items, &n, err,
                           err_size);
    if (!error) {
        error = cidrs_from_items(items, n, ctx, what, cidrsp, n_cidrsp, err,
                                 err_size);
        free(items);
    }
    return error;
}

int
egress_parse_cidrs(const char *s, const char *ctx, struct egress_cidr **cidrsp,
                   size_t *n_cidrsp, char *err, size_t err_size)
{
    return parse_cidrs(s, ctx, "CIDR", cidrsp, n_cidrsp, err, err_size);
}

/* Joined string forms. */

/* A growing string.  After a failed allocation, 'failed' is set and
 * nothing more is appended. */
struct sbuf {
    char *s;
    size_t len;
    size_t cap;
    bool failed;
};

static void
sbuf_add(struct sbuf *b, const char *s)
{
    size_t n = strlen(s);
    if (b->failed) {
        return;
    }
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 64;
        while (b->len + n + 1 > cap) {
            cap *= 2;
        }
        char *p = realloc(b->s, cap);
        if (!p) {
            b->failed = true;
            return;
        }
        b->s = p;
        b->cap = cap;
    }
    memcpy(b->s + b->len, s, n + 1);
    b->len += n;
}

static char *
sbuf_finish(struct sbuf *b)
{
    if (b->failed) {
        free(b->s);
        return NULL;
    }
    return b->s ? b->s : strdup("");
}

char *
egress_pool_ranges_to_string(const struct egress_pool *pool)
{
    struct sbuf b = {NULL, 0, 0, false};
    for (size_t i = 0; i < pool->n_ranges; i++) {
        char buf[EGRESS_RANGE_STRLEN];
        if (i) {
            sbuf_add(&b, ",");
        }
        sbuf_add(&b, egress_range_to_string(&pool->ranges[i], buf));
    }
    return sbuf_finish(&b);
}

char *
egress_labels_to_string(const struct egress_labels *labels)
{
    struct sbuf b = {NULL, 0, 0, false};
    for (size_t i = 0; i < labels->n; i++) {
        if (i) {
            sbuf_add(&b, ",");
        }
        sbuf_add(&b, labels->items[i].key);
        sbuf_add(&b, "=");
        sbuf_add(&b, labels->items[i].value);
    }
    return sbuf_finish(&b);
}

char *
egress_exempt_to_string(const struct egress *egress)
{
    struct sbuf b = {NULL, 0, 0, false};
    for (size_t i = 0; i < egress->n_exempt; i++) {
        char buf[EGRESS_CIDR_STRLEN];
        if (i) {
            sbuf_add(&b, ",");
        }
        sbuf_add(&b, egress_cidr_to_string(&egress->exempt[i], buf));
    }
    return sbuf_finish(&b);
}

/* Pools. */

int
egress_pool_create(const char *name, struct egress_pool **poolp, char *err,
                   size_t err_size)
{
    *poolp = NULL;
    if (!egress_name_is_valid(name)) {
        bad_name(err, err_size, "pool", name);
        return EINVAL;
    }
    struct egress_pool *pool = calloc(1, sizeof *pool);
    if (!pool || !(pool->name = strdup(name))) {
        free(pool);
        nomem(err, err_size, "pool");
        return ENOMEM;
    }
    *poolp = pool;
    return 0;
}

void
egress_pool_destroy(struct egress_pool *pool)
{
    if (pool) {
        free(pool->name);
        free(pool->ranges);
        free_strings(pool->nodes, pool->n_nodes);
        egress_labels_destroy(&pool->node_selector);
        free(pool);
    }
}

int
egress_pool_set_ranges(struct egress_pool *pool, const char *s, char *err,
                       size_t err_size)
{
    char ctx[CTX_SIZE];
    struct egress_range *ranges;
    size_t n;
    int error = egress_parse_ranges(s, object_ctx(ctx, "pool", pool->name),
                                    &ranges, &n, err, err_size);
    if (!error) {
        free(pool->ranges);
        pool->ranges = ranges;
        pool->n_ranges = n;
    }
    return error;
}

int
egress_pool_set_nodes(struct egress_pool *pool, const char *s, char *err,
                      size_t err_size)
{
    char ctx[CTX_SIZE];
    char **nodes;
    size_t n;
    int error = egress_parse_nodes(s, object_ctx(ctx, "pool", pool->name),
                                   &nodes, &n, err, err_size);
    if (!error) {
        free_strings(pool->nodes, pool->n_nodes);
        pool->nodes = nodes;
        pool->n_nodes = n;
    }
    return error;
}

int
egress_pool_set_node_selector(struct egress_pool *pool, const char *s,
                              char *err, size_t err_size)
{
    char ctx[CTX_SIZE];
    struct egress_labels labels;
    int error = egress_parse_labels(s, object_ctx(ctx, "pool", pool->name),
                                    "node selector", &labels, err, err_size);
    if (!error) {
        egress_labels_destroy(&pool->node_selector);
        pool->node_selector = labels;
    }
    return error;
}

int
egress_pool_validate(const struct egress_pool *pool, char *err,
                     size_t err_size)
{
    char ctx_buf[CTX_SIZE];
    const char *ctx = object_ctx(ctx_buf, "pool", pool->name);

    if (!egress_name_is_valid(pool->name)) {
        bad_name(err, err_size, "pool", pool->name);
        return EINVAL;
    }
    if (!pool->n_ranges || !pool->ranges) {
        egress_error(err, err_size, ctx, "no ranges");
        return EINVAL;
    }
    if (pool->n_ranges > EGRESS_MAX_RANGES) {
        egress_error(err, err_size, ctx, "too many ranges (%zu, at most %d)",
                     pool->n_ranges, EGRESS_MAX_RANGES);
        return EINVAL;
    }
    for (size_t i = 0; i < pool->n_ranges; i++) {
        const struct egress_range *r = &pool->ranges[i];
        char buf[EGRESS_RANGE_STRLEN], ipbuf[EGRESS_IP_STRLEN];
        uint32_t bad;

        if (r->first > r->last) {
            egress_error(err, err_size, ctx, "range %s-%s: start after end",
                         egress_ip_to_string(r->first, ipbuf),
                         egress_ip_to_string(r->last, buf));
            return EINVAL;
        }
        if (r->prefix_len) {
            uint32_t mask = prefix_mask(r->prefix_len);
            uint32_t net = r->first & mask;
            bool small = r->prefix_len >= 31;
            if (r->prefix_len < 8 || r->prefix_len > 32
                || r->first != (small ? net : net + 1)
                || r->last != (small ? net | ~mask : (net | ~mask) - 1)) {
                egress_error(err, err_size, ctx,
                             "range %s: addresses do not match the CIDR",
                             egress_range_to_string(r, buf));
                return EINVAL;
            }
        }
        if (!addresses_unicast(r->first, r->last, &bad)) {
            egress_error(err, err_size, ctx,
                         "range %s: holds non-unicast address %s",
                         egress_range_to_string(r, buf),
                         egress_ip_to_string(bad, ipbuf));
            return EINVAL;
        }
    }
    int error = check_ranges_disjoint(pool->ranges, pool->n_ranges, ctx, err,
                                      err_size);
    if (error) {
        return error;
    }

    if (pool->n_nodes > EGRESS_MAX_NODES || (pool->n_nodes && !pool->nodes)) {
        egress_error(err, err_size, ctx, "too many nodes");
        return EINVAL;
    }
    for (size_t i = 0; i < pool->n_nodes; i++) {
        const char *node = pool->nodes[i];
        if (!node || !dns_subdomain_valid(node, strlen(node))) {
            egress_error(err, err_size, ctx, "node %zu: not a valid name", i);
            return EINVAL;
        }
        if (i && strcmp(pool->nodes[i - 1], node) >= 0) {
            egress_error(err, err_size, ctx,
                         "nodes not sorted or not unique at '%s'", node);
            return EINVAL;
        }
    }
    return labels_validate(&pool->node_selector, ctx, "node selector", err,
                           err_size);
}

static bool
ranges_overlap(const struct egress_range *a, const struct egress_range *b)
{
    return a->first <= b->last && b->first <= a->last;
}

int
egress_pool_check(const struct egress_pool *pool,
                  const struct egress_pool *const *pools, size_t n_pools,
                  const struct egress *const *egresses, size_t n_egresses,
                  char *err, size_t err_size)
{
    int error = egress_pool_validate(pool, err, err_size);
    if (error) {
        return error;
    }

    char ctx_buf[CTX_SIZE];
    const char *ctx = object_ctx(ctx_buf, "pool", pool->name);
    char a[EGRESS_RANGE_STRLEN], b[EGRESS_RANGE_STRLEN];
    for (size_t i = 0; i < n_pools; i++) {
        const struct egress_pool *other = pools[i];
        if (!other->name || !strcmp(other->name, pool->name)) {
            continue;
        }
        for (size_t j = 0; j < pool->n_ranges; j++) {
            for (size_t k = 0; k < other->n_ranges; k++) {
                if (ranges_overlap(&pool->ranges[j], &other->ranges[k])) {
                    egress_error(err, err_size, ctx,
                                 "range %s overlaps range %s of pool '%s'",
                                 egress_range_to_string(&pool->ranges[j], a),
                                 egress_range_to_string(&other->ranges[k], b),
                                 other->name);
                    return EEXIST;
                }
            }
        }
    }

    for (size_t i = 0; i < n_egresses; i++) {
        const struct egress *e = egresses[i];
        char ip[EGRESS_IP_STRLEN];
        if (!e->ip) {
            continue;
        }
        bool ours = e->pool && !strcmp(e->pool, pool->name);
        bool held = egress_pool_contains(pool, e->ip);
        if (ours && !held) {
            egress_error(err, err_size, ctx,
                         "egress '%s' pins IP %s, which the ranges no longer "
                         "hold",
                         e->name, egress_ip_to_string(e->ip, ip));
            return EBUSY;
        }
        if (!e->pool && held) {
            egress_error(err, err_size, ctx,
                         "ranges hold IP %s of egress '%s', which has no "
                         "pool",
                         egress_ip_to_string(e->ip, ip), e->name);
            return EEXIST;
        }
    }
    return 0;
}

int
egress_pool_check_delete(const char *name,
                         const struct egress *const *egresses,
                         size_t n_egresses, char *err, size_t err_size)
{
    char ctx[CTX_SIZE];
    for (size_t i = 0; i < n_egresses; i++) {
        const struct egress *e = egresses[i];
        if (e->pool && name && !strcmp(e->pool, name)) {
            egress_error(err, err_size, object_ctx(ctx, "pool", name),
                         "in use by egress '%s'", e->name);
            return EBUSY;
        }
    }
    return 0;
}

static bool
nullable_streq(const char *a, const char *b)
{
    return a && b ? !strcmp(a, b) : a == b;
}

bool
egress_pool_equal(const struct egress_pool *a, const struct egress_pool *b)
{
    if (!nullable_streq(a->name, b->name) || a->n_ranges != b->n_ranges
        || a->n_nodes != b->n_nodes
        || !labels_equal(&a->node_selector, &b->node_selector)) {
        return false;
    }
    for (size_t i = 0; i < a->n_ranges; i++) {
        const struct egress_range *x = &a->ranges[i], *y = &b->ranges[i];
        if (x->first != y->first || x->last != y->last
            || x->prefix_len != y->prefix_len) {
            return false;
        }
    }
    for (size_t i = 0; i < a->n_nodes; i++) {
        if (strcmp(a->nodes[i], b->nodes[i])) {
            return false;
        }
    }
    return true;
}

uint64_t
egress_pool_total(const struct egress_pool *pool)
{
    uint64_t total = 0;
    for (size_t i = 0; i < pool->n_ranges; i++) {
        total += (uint64_t)pool->ranges[i].last - pool->ranges[i].first + 1;
    }
    return total;
}

bool
egress_pool_contains(const struct egress_pool *pool, uint32_t ip)
{
    for (size_t i = 0; i < pool->n_ranges; i++) {
        if (ip >= pool->ranges[i].first && ip <= pool->ranges[i].last) {
            return true;
        }
    }
    return false;
}

static int
u32_cmp(const void *a_, const void *b_)
{
    uint32_t a = *(const uint32_t *)a_, b = *(const uint32_t *)b_;
    return (a > b) - (a < b);
}

/* Returns a sorted copy of the 'n' addresses in 'ips' in '*sortedp' (NULL
 * if 'n' is 0).  Returns 0 or ENOMEM. */
static int
sorted_copy(const uint32_t *ips, size_t n, uint32_t **sortedp)
{
    *sortedp = NULL;
    if (!n) {
        return 0;
    }
    uint32_t *sorted = malloc(n * sizeof *sorted);
    if (!sorted) {
        return ENOMEM;
    }
    memcpy(sorted, ips, n * sizeof *sorted);
    qsort(sorted, n, sizeof *sorted, u32_cmp);
    *sortedp = sorted;
    return 0;
}

/* Returns the index of the first of the 'n' ascending 'ips' that is not
 * below 'ip'. */
static size_t
lower_bound(const uint32_t *ips, size_t n, uint32_t ip)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (ips[mid] < ip) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return lo;
}

int
egress_pool_first_free(const struct egress_pool *pool, const uint32_t *in_use,
                       size_t n_in_use, uint32_t *ip)
{
    uint32_t *used;
    if (sorted_copy(in_use, n_in_use, &used)) {
        return ENOMEM;
    }

    bool found = false;
    uint32_t best = 0;
    for (size_t i = 0; i < pool->n_ranges; i++) {
        const struct egress_range *r = &pool->ranges[i];
        uint64_t candidate = r->first;
        size_t j = lower_bound(used, n_in_use, r->first);
        while (candidate <= r->last && j < n_in_use && used[j] <= candidate) {
            if (used[j] == candidate) {
                candidate++;
            }
            j++;
        }
        if (candidate <= r->last && (!found || candidate < best)) {
            best = candidate;
            found = true;
        }
    }
    free(used);
    if (!found) {
        return ENOSPC;
    }
    *ip = best;
    return 0;
}

int
egress_pool_usage(const struct egress_pool *pool, const uint32_t *in_use,
                  size_t n_in_use, uint64_t *total, uint64_t *used)
{
    uint32_t *sorted;
    if (sorted_copy(in_use, n_in_use, &sorted)) {
        return ENOMEM;
    }
    uint64_t n = 0;
    for (size_t i = 0; i < n_in_use; i++) {
        if ((!i || sorted[i] != sorted[i - 1])
            && egress_pool_contains(pool, sorted[i])) {
            n++;
        }
    }
    free(sorted);
    *total = egress_pool_total(pool);
    *used = n;
    return 0;
}

bool
egress_pool_node_eligible(const struct egress_pool *pool, const char *node,
                          const struct egress_labels *node_labels)
{
    if (!pool->n_nodes && !pool->node_selector.n) {
        return true;
    }
    for (size_t i = 0; node && i < pool->n_nodes; i++) {
        if (!strcmp(pool->nodes[i], node)) {
            return true;
        }
    }
    return (pool->node_selector.n
            && egress_labels_match(&pool->node_selector, node_labels));
}

int
egress_pool_node_eligible_str(const struct egress_pool *pool, const char *node,
                              const char *node_labels, bool *eligible,
                              char *err, size_t err_size)
{
    char ctx[CTX_SIZE];
    struct egress_labels labels;
    int error = egress_parse_labels(node_labels, object_ctx(ctx, "node", node),
                                    "node labels", &labels, err, err_size);
    if (!error) {
        *eligible = egress_pool_node_eligible(pool, node, &labels);
        egress_labels_destroy(&labels);
    }
    return error;
}

/* JSON encoding. */

/* Sets 'obj'['key'] to 'value' (a new reference, may be NULL). */
static bool
json_put(json_t *obj, const char *key, json_t *value)
{
    return value && !json_object_set_new(obj, key, value);
}

static bool
json_push(json_t *array, json_t *value)
{
    return value && !json_array_append_new(array, value);
}

static json_t *
labels_to_json(const struct egress_labels *labels)
{
    json_t *obj = json_object();
    for (size_t i = 0; obj && i < labels->n; i++) {
        if (!json_put(obj, labels->items[i].key,
                      json_string(labels->items[i].value))) {
            json_decref(obj);
            return NULL;
        }
    }
    return obj;
}

json_t *
egress_pool_to_json(const struct egress_pool *pool)
{
    json_t *obj = json_object();
    json_t *ranges = json_array();
    bool ok = obj && ranges && json_put(obj, "name", json_string(pool->name));
    for (size_t i = 0; ok && i < pool->n_ranges; i++) {
        char buf[EGRESS_RANGE_STRLEN];
        ok = json_push(ranges, json_string(egress_range_to_string(
                                   &pool->ranges[i], buf)));
    }
    ok = ok && json_put(obj, "ranges", json_incref(ranges));
    if (ok && pool->n_nodes) {
        json_t *nodes = json_array();
        ok = json_put(obj, "nodes", nodes);
        for (size_t i = 0; ok && i < pool->n_nodes; i++) {
            ok = json_push(nodes, json_string(pool->nodes[i]));
        }
    }
    if (ok && pool->node_selector.n) {
        ok = json_put(obj, "node_selector",
                      labels_to_json(&pool->node_selector));
    }
    json_decref(ranges);
    if (!ok) {
        json_decref(obj);
        return NULL;
    }
    return obj;
}

char *
egress_pool_to_string(const struct egress_pool *pool)
{
    json_t *json = egress_pool_to_json(pool);
    char *s = json ? json_dumps(json, JSON_COMPACT) : NULL;
    json_decref(json);
    return s;
}

/* JSON decoding. */

/* Checks that 'json' is an object with a string member "name" and stores
 * it into '*namep'. */
static int
json_object_name(const json_t *json, const char *kind, const char **namep,
                 char *err, size_t err_size)
{
    if (!json_is_object(json)) {
        egress_error(err, err_size, kind, "not a JSON object");
        return EINVAL;
    }
    const json_t *name = json_object_get(json, "name");
    struct item item;
    if (!name) {
        egress_error(err, err_size, kind, "missing 'name'");
        return EINVAL;
    }
    if (!json_item(name, &item)) {
        egress_error(err, err_size, kind, "'name' is not a string");
        return EINVAL;
    }
    *namep = item.s;
    return 0;
}

static void
unknown_member(char *err, size_t err_size, const char *ctx, const char *key)
{
    egress_error(err, err_size, ctx, "unknown member '%.*s%s'",
                 ITEM_ARGS(key, strlen(key)));
}

/* Decodes member 'key' with value 'value' into 'pool'. */
static int
pool_member_from_json(struct egress_pool *pool, const char *ctx,
                      const char *key, const json_t *value, char *err,
                      size_t err_size)
{
    struct item *items;
    size_t n;
    int error;

    if (!strcmp(key, "ranges")) {
        error = json_array_items(value, ctx, key, EGRESS_MAX_RANGES, &items,
                                 &n, err, err_size);
        if (!error) {
            free(pool->ranges);
            pool->ranges = NULL;
            pool->n_ranges = 0;
            error = ranges_from_items(items, n, ctx, &pool->ranges,
                                      &pool->n_ranges, err, err_size);
            free(items);
        }
    } else if (!strcmp(key, "nodes")) {
        if (json_is_null(value)) {
            return 0;
        }
        error = json_array_items(value, ctx, key, EGRESS_MAX_NODES, &items, &n,
                                 err, err_size);
        if (!error) {
            error = nodes_from_items(items, n, ctx, &pool->nodes,
                                     &pool->n_nodes, err, err_size);
            free(items);
        }
    } else if (!strcmp(key, "node_selector")) {
        if (json_is_null(value)) {
            return 0;
        }
        error = json_object_labels(value, ctx, key, &pool->node_selector, err,
                                   err_size);
    } else {
        unknown_member(err, err_size, ctx, key);
        error = EINVAL;
    }
    return error;
}

int
egress_pool_from_json(const json_t *json, struct egress_pool **poolp,
                      char *err, size_t err_size)
{
    const char *name;
    *poolp = NULL;
    int error = json_object_name(json, "pool", &name, err, err_size);
    if (error) {
        return error;
    }

    struct egress_pool *pool;
    error = egress_pool_create(name, &pool, err, err_size);
    if (error) {
        return error;
    }

    char ctx[CTX_SIZE];
    object_ctx(ctx, "pool", pool->name);
    if (!json_object_get(json, "ranges")) {
        egress_error(err, err_size, ctx, "missing 'ranges'");
        error = EINVAL;
    }

    const char *key;
    json_t *value;
    json_object_foreach ((json_t *)json, key, value) {
        if (error) {
            break;
        }
        if (strcmp(key, "name")) {
            error
                = pool_member_from_json(pool, ctx, key, value, err, err_size);
        }
    }
    if (!error) {
        error = egress_pool_validate(pool, err, err_size);
    }
    if (error) {
        egress_pool_destroy(pool);
        return error;
    }
    *poolp = pool;
    return 0;
}

int
egress_pool_from_string(const char *s, size_t len, struct egress_pool **poolp,
                        char *err, size_t err_size)
{
    json_t *json;
    *poolp = NULL;
    int error = load_json(s, len, "pool", &json, err, err_size);
    if (!error) {
        error = egress_pool_from_json(json, poolp, err, err_size);
        json_decref(json);
    }
    return error;
}

/* Egresses. */

int
egress_create(const char *name, struct egress **egressp, char *err,
              size_t err_size)
{
    *egressp = NULL;
    if (!egress_name_is_valid(name)) {
        bad_name(err, err_size, "egress", name);
        return EINVAL;
    }
    struct egress *egress = calloc(1, sizeof *egress);
    if (!egress || !(egress->name = strdup(name))) {
        free(egress);
        nomem(err, err_size, "egress");
        return ENOMEM;
    }
    *egressp = egress;
    return 0;
}

void
egress_destroy(struct egress *egress)
{
    if (egress) {
        free(egress->name);
        free(egress->namespace_glob);
        free(egress->pod_glob);
        egress_labels_destroy(&egress->pod_selector);
        free(egress->pool);
        free(egress->exempt);
        free(egress);
    }
}

/* Replaces '*globp' by a copy of 's' (NULL clears it) after checking it. */
static int
set_glob(const struct egress *egress, char **globp, const char *s,
         const char *what, char *err, size_t err_size)
{
    char ctx[CTX_SIZE];
    char *copy = NULL;
    if (s) {
        int error = egress_check_glob(
            s, object_ctx(ctx, "egress", egress->name), what, err, err_size);
        if (error) {
            return error;
        }
        copy = strdup(s);
        if (!copy) {
            nomem(err, err_size, ctx);
            return ENOMEM;
        }
    }
    free(*globp);
    *globp = copy;
    return 0;
}

int
egress_set_namespace(struct egress *egress, const char *s, char *err,
                     size_t err_size)
{
    return set_glob(egress, &egress->namespace_glob, s, "namespace glob", err,
                    err_size);
}

int
egress_set_pod_name(struct egress *egress, const char *s, char *err,
                    size_t err_size)
{
    return set_glob(egress, &egress->pod_glob, s, "pod-name glob", err,
                    err_size);
}

int
egress_set_pod_selector(struct egress *egress, const char *s, char *err,
                        size_t err_size)
{
    char ctx[CTX_SIZE];
    struct egress_labels labels;
    int error = egress_parse_labels(s, object_ctx(ctx, "egress", egress->name),
                                    "pod selector", &labels, err, err_size);
    if (!error) {
        egress_labels_destroy(&egress->pod_selector);
        egress->pod_selector = labels;
    }
    return error;
}

/* Returns 0 if 'ip' may be an egress IP, otherwise EINVAL with a message. */
static int
check_egress_ip(uint32_t ip, const char *ctx, char *err, size_t err_size)
{
    uint32_t bad;
    if (!addresses_unicast(ip, ip, &bad)) {
        char buf[EGRESS_IP_STRLEN];
        egress_error(err, err_size, ctx, "IP %s is not a unicast address",
                     egress_ip_to_string(ip, buf));
        return EINVAL;
    }
    return 0;
}

int
egress_set_ip(struct egress *egress, const char *s, char *err, size_t err_size)
{
    char ctx[CTX_SIZE];
    uint32_t ip = 0;
    if (s) {
        object_ctx(ctx, "egress", egress->name);
        int error = egress_parse_ip(s, ctx, &ip, err, err_size);
        if (!error) {
            error = check_egress_ip(ip, ctx, err, err_size);
        }
        if (error) {
            return error;
        }
    }
    egress->ip = ip;
    return 0;
}

int
egress_set_pool(struct egress *egress, const char *s, char *err,
                size_t err_size)
{
    char ctx[CTX_SIZE];
    char *copy = NULL;
    if (s) {
        if (!egress_name_is_valid(s)) {
            egress_error(
                err, err_size, object_ctx(ctx, "egress", egress->name),
                "pool name '%.*s%s' is invalid", ITEM_ARGS(s, strlen(s)));
            return EINVAL;
        }
        copy = strdup(s);
        if (!copy) {
            nomem(err, err_size, "egress");
            return ENOMEM;
        }
    }
    free(egress->pool);
    egress->pool = copy;
    return 0;
}

int
egress_set_exempt(struct egress *egress, const char *s, char *err,
                  size_t err_size)
{
    char ctx[CTX_SIZE];
    struct egress_cidr *cidrs;
    size_t n;
    int error = parse_cidrs(s, object_ctx(ctx, "egress", egress->name),
                            "exempt CIDR", &cidrs, &n, err, err_size);
    if (!error) {
        free(egress->exempt);
        egress->exempt = cidrs;
        egress->n_exempt = n;
    }
    return error;
}

int
egress_validate(const struct egress *egress, char *err, size_t err_size)
{
    char ctx_buf[CTX_SIZE];
    const char *ctx = object_ctx(ctx_buf, "egress", egress->name);
    int error;

    if (!egress_name_is_valid(egress->name)) {
        bad_name(err, err_size, "egress", egress->name);
        return EINVAL;
    }
    if (egress->namespace_glob
        && (error = egress_check_glob(egress->namespace_glob, ctx,
                                      "namespace glob", err, err_size))) {
        return error;
    }
    if (egress->pod_glob
        && (error = egress_check_glob(egress->pod_glob, ctx, "pod-name glob",
                                      err, err_size))) {
        return error;
    }
    error = labels_validate(&egress->pod_selector, ctx, "pod selector", err,
                            err_size);
    if (error) {
        return error;
    }
    if (egress->pool && !egress_name_is_valid(egress->pool)) {
        egress_error(err, err_size, ctx, "pool name '%.*s%s' is invalid",
                     ITEM_ARGS(egress->pool, strlen(egress->pool)));
        return EINVAL;
    }
    if (egress->ip
        && (error = check_egress_ip(egress->ip, ctx, err, err_size))) {
        return error;
    }
    if (!egress->ip && !egress->pool) {
        egress_error(err, err_size, ctx, "needs an IP or a pool");
        return EINVAL;
    }
    if (egress->n_exempt > EGRESS_MAX_EXEMPT
        || (egress->n_exempt && !egress->exempt)) {
        egress_error(err, err_size, ctx, "too many exempt CIDRs");
        return EINVAL;
    }
    for (size_t i = 0; i < egress->n_exempt; i++) {
        const struct egress_cidr *c = &egress->exempt[i];
        if (c->prefix_len > 32 || c->network & ~prefix_mask(c->prefix_len)) {
            egress_error(err, err_size, ctx, "exempt CIDR %zu is invalid", i);
            return EINVAL;
        }
        if (i && cidr_cmp(&egress->exempt[i - 1], c) >= 0) {
            char buf[EGRESS_CIDR_STRLEN];
            egress_error(err, err_size, ctx,
                         "exempt CIDRs not sorted or not unique at %s",
                         egress_cidr_to_string(c, buf));
            return EINVAL;
        }
    }
    return 0;
}

static const struct egress_pool *
find_pool(const struct egress_pool *const *pools, size_t n_pools,
          const char *name)
{
    for (size_t i = 0; i < n_pools; i++) {
        if (pools[i]->name && !strcmp(pools[i]->name, name)) {
            return pools[i];
        }
    }
    return NULL;
}

int
egress_check(const struct egress *egress,
             const struct egress_pool *const *pools, size_t n_pools,
             const struct egress *const *egresses, size_t n_egresses,
             char *err, size_t err_size)
{
    int error = egress_validate(egress, err, err_size);
    if (error) {
        return error;
    }

    char ctx_buf[CTX_SIZE];
    const char *ctx = object_ctx(ctx_buf, "egress", egress->name);
    char ip[EGRESS_IP_STRLEN];
    const struct egress_pool *pool = NULL;
    if (egress->pool) {
        pool = find_pool(pools, n_pools, egress->pool);
        if (!pool) {
            egress_error(err, err_size, ctx, "pool '%s' does not exist",
                         egress->pool);
            return ENOENT;
        }
    }
    if (!egress->ip) {
        return 0;
    }

    egress_ip_to_string(egress->ip, ip);
    if (pool && !egress_pool_contains(pool, egress->ip)) {
        egress_error(err, err_size, ctx, "IP %s is outside pool '%s'", ip,
                     pool->name);
        return EINVAL;
    }
    if (!pool) {
        for (size_t i = 0; i < n_pools; i++) {
            if (egress_pool_contains(pools[i], egress->ip)) {
                egress_error(err, err_size, ctx,
                             "IP %s lies in pool '%s'; name the pool to pin "
                             "the IP to it",
                             ip, pools[i]->name);
                return EEXIST;
            }
        }
    }
    for (size_t i = 0; i < n_egresses; i++) {
        const struct egress *other = egresses[i];
        if (other->ip == egress->ip && other->name
            && strcmp(other->name, egress->name)) {
            egress_error(err, err_size, ctx,
                         "IP %s is already used by egress '%s'", ip,
                         other->name);
            return EEXIST;
        }
    }
    return 0;
}

bool
egress_equal(const struct egress *a, const struct egress *b)
{
    if (!nullable_streq(a->name, b->name)
        || !nullable_streq(a->namespace_glob, b->namespace_glob)
        || !nullable_streq(a->pod_glob, b->pod_glob)
        || !labels_equal(&a->pod_selector, &b->pod_selector) || a->ip != b->ip
        || !nullable_streq(a->pool, b->pool) || a->n_exempt != b->n_exempt) {
        return false;
    }
    for (size_t i = 0; i < a->n_exempt; i++) {
        if (cidr_cmp(&a->exempt[i], &b->exempt[i])) {
            return false;
        }
    }
    return true;
}

/* Returns true if 'glob' (NULL: anything) matches 'name' (NULL: unknown,
 * matched only by a NULL glob). */
static bool
glob_matches(const char *glob, const char *name)
{
    return !glob || (name && !fnmatch(glob, name, 0));
}

bool
egress_selects(const struct egress *egress, const char *pod_namespace,
               const char *pod_name, const struct egress_labels *pod_labels)
{
    return (glob_matches(egress->namespace_glob, pod_namespace)
            && glob_matches(egress->pod_glob, pod_name)
            && egress_labels_match(&egress->pod_selector, pod_labels));
}

const struct egress *
egress_select(const struct egress *const *egresses, size_t n_egresses,
              const char *pod_namespace, const char *pod_name,
              const struct egress_labels *pod_labels)
{
    const struct egress *best = NULL;
    for (size_t i = 0; i < n_egresses; i++) {
        const struct egress *e = egresses[i];
        if ((!best || strcmp(e->name, best->name) < 0)
            && egress_selects(e, pod_namespace, pod_name, pod_labels)) {
            best = e;
        }
    }
    return best;
}

bool
egress_is_exempt(const struct egress *egress, uint32_t dst)
{
    for (size_t i = 0; i < egress->n_exempt; i++) {
        const struct egress_cidr *c = &egress->exempt[i];
        if ((dst & prefix_mask(c->prefix_len)) == c->network) {
            return true;
        }
    }
    return false;
}

bool
egress_node_eligible(const struct egress *egress,
                     const struct egress_pool *const *pools, size_t n_pools,
                     const char *node, const struct egress_labels *node_labels)
{
    if (!egress->pool) {
        return true;
    }
    const struct egress_pool *pool = find_pool(pools, n_pools, egress->pool);
    return pool && egress_pool_node_eligible(pool, node, node_labels);
}

json_t *
egress_to_json(const struct egress *egress)
{
    json_t *obj = json_object();
    bool ok = obj && json_put(obj, "name", json_string(egress->name));
    if (ok && egress->namespace_glob) {
        ok = json_put(obj, "namespace", json_string(egress->namespace_glob));
    }
    if (ok && egress->pod_glob) {
        ok = json_put(obj, "pod_name", json_string(egress->pod_glob));
    }
    if (ok && egress->pod_selector.n) {
        ok = json_put(obj, "pod_selector",
                      labels_to_json(&egress->pod_selector));
    }
    if (ok && egress->ip) {
        char buf[EGRESS_IP_STRLEN];
        ok = json_put(obj, "ip",
                      json_string(egress_ip_to_string(egress->ip, buf)));
    }
    if (ok && egress->pool) {
        ok = json_put(obj, "pool", json_string(egress->pool));
    }
    if (ok && egress->n_exempt) {
        json_t *exempt = json_array();
        ok = json_put(obj, "exempt", exempt);
        for (size_t i = 0; ok && i < egress->n_exempt; i++) {
            char buf[EGRESS_CIDR_STRLEN];
            ok = json_push(exempt, json_string(egress_cidr_to_string(
                                       &egress->exempt[i], buf)));
        }
    }
    if (!ok) {
        json_decref(obj);
        return NULL;
    }
    return obj;
}

char *
egress_to_string(const struct egress *egress)
{
    json_t *json = egress_to_json(egress);
    char *s = json ? json_dumps(json, JSON_COMPACT) : NULL;
    json_decref(json);
    return s;
}

/* Decodes member 'key' with value 'value' into 'egress'. */
static int
egress_member_from_json(struct egress *egress, const char *ctx,
                        const char *key, const json_t *value, char *err,
                        size_t err_size)
{
    static const char *const string_members[] = {
        "namespace",
        "pod_name",
        "ip",
        "pool",
    };
    struct item item;

    for (size_t i = 0; i < sizeof string_members / sizeof *string_members;
         i++) {
        if (strcmp(key, string_members[i])) {
            continue;
        }
        if (json_is_null(value)) {
            return 0;
        }
        if (!json_item(value, &item)) {
            egress_error(err, err_size, ctx, "'%s' is not a string", key);
            return EINVAL;
        }
        switch (i) {
        case 0:
            return egress_set_namespace(egress, item.s, err, err_size);
        case 1:
            return egress_set_pod_name(egress, item.s, err, err_size);
        case 2:
            return egress_set_ip(egress, item.s, err, err_size);
        default:
            return egress_set_pool(egress, item.s, err, err_size);
        }
    }

    if (!strcmp(key, "pod_selector")) {
        if (json_is_null(value)) {
            return 0;
        }
        egress_labels_destroy(&egress->pod_selector);
        return json_object_labels(value, ctx, key, &egress->pod_selector, err,
                                  err_size);
    } else if (!strcmp(key, "exempt")) {
        struct item *items;
        size_t n;
        if (json_is_null(value)) {
            return 0;
        }
        int error = json_array_items(value, ctx, key, EGRESS_MAX_EXEMPT,
                                     &items, &n, err, err_size);
        if (!error) {
            free(egress->exempt);
            egress->exempt = NULL;
            egress->n_exempt = 0;
            error = cidrs_from_items(items, n, ctx, "exempt CIDR",
                                     &egress->exempt, &egress->n_exempt, err,
                                     err_size);
            free(items);
        }
        return error;
    }
    unknown_member(err, err_size, ctx, key);
    return EINVAL;
}

int
egress_from_json(const json_t *json, struct egress **egressp, char *err,
                 size_t err_size)
{
    const char *name;
    *egressp = NULL;
    int error = json_object_name(json, "egress", &name, err, err_size);
    if (error) {
        return error;
    }

    struct egress *egress;
    error = egress_create(name, &egress, err, err_size);
    if (error) {
        return error;
    }

    char ctx[CTX_SIZE];
    object_ctx(ctx, "egress", egress->name);
    const char *key;
    json_t *value;
    json_object_foreach ((json_t *)json, key, value) {
        if (strcmp(key, "name")) {
            error = egress_member_from_json(egress, ctx, key, value, err,
                                            err_size);
            if (error) {
                break;
            }
        }
    }
    if (!error) {
        error = egress_validate(egress, err, err_size);
    }
    if (error) {
        egress_destroy(egress);
        return error;
    }
    *egressp = egress;
    return 0;
}

int
egress_from_string(const char *s, size_t len, struct egress **egressp,
                   char *err, size_t err_size)
{
    json_t *json;
    *egressp = NULL;
    int error = load_json(s, len, "egress", &json, err, err_size);
    if (!error) {
        error = egress_from_json(json, egressp, err, err_size);
        json_decref(json);
    }
    return error;
}
