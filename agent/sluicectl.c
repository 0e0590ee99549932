/*
 * sluicectl: the operator CLI for egress IP pools and egresses.  It checks
 * every argument with the egress object model (sluice/egress-model.h), sends
 * one request to the node agent's control socket (sluice/ctl-proto.h) and
 * prints the answer as a table or as JSON.
 *
 * Exit status: 0 on success; 2 for invalid input (found here, or refused by
 * the agent with status 2); 1 for every other error (agent unreachable,
 * timeout, malformed answer, agent failure).  Errors are one line on
 * stderr.
 */
#include <sluice-config.h>

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sluice/ctl-client.h"
#include "sluice/ctl-proto.h"
#include "sluice/egress-model.h"

#define EXIT_INVALID 2

/* Lists longer than this in a table cell are shown as a count. */
#define CELL_LIST_MAX 40

/* Upper bound of --timeout, in seconds. */
#define TIMEOUT_MAX_S 600

/* Options of the subcommands, each allowed by some commands only. */
enum flag {
    FLAG_RANGES,
    FLAG_NODES,
    FLAG_NODE_SELECTOR,
    FLAG_NAMESPACE,
    FLAG_POD,
    FLAG_POD_SELECTOR,
    FLAG_IP,
    FLAG_POOL,
    FLAG_EXEMPT,
    FLAG_TO,
    N_FLAGS
};

static const char *const flag_names[N_FLAGS] = {
    [FLAG_RANGES] = "ranges",
    [FLAG_NODES] = "nodes",
    [FLAG_NODE_SELECTOR] = "node-selector",
    [FLAG_NAMESPACE] = "namespace",
    [FLAG_POD] = "pod",
    [FLAG_POD_SELECTOR] = "pod-selector",
    [FLAG_IP] = "ip",
    [FLAG_POOL] = "pool",
    [FLAG_EXEMPT] = "exempt",
    [FLAG_TO] = "to",
};

#define BIT(FLAG) (1u << (FLAG))

enum output_format {
    OUTPUT_TABLE,
    OUTPUT_JSON,
};

/* The command line, parsed but not yet checked against the command. */
struct cli {
    const char *socket;         /* -s / --socket, or NULL. */
    const char *output;         /* -o / --output, or NULL. */
    const char *timeout;        /* -t / --timeout, or NULL. */
    bool help;                  /* -h / --help given? */
    const char *flags[N_FLAGS]; /* Subcommand options, NULL if absent. */
    const char *words[8];       /* OBJECT VERB [NAME], maybe extra. */
    size_t n_words;             /* Number of 'words'. */
};

/* What a command builds and prints. */
typedef int build_fn(const struct cli *, json_t **args, char *err,
                     size_t err_size);
typedef int print_fn(const struct cli *, const json_t *args,
                     const json_t *result, enum output_format, char *err,
                     size_t err_size);

struct command {
    const char *object; /* "pool" or "egress". */
    const char *verb;   /* "create", "list", ... */
    const char *name;   /* Protocol command, e.g. "pool.create". */
    bool takes_name;    /* Needs a NAME argument? */
    unsigned int flags; /* Allowed subcommand options (BIT(FLAG_*)). */
    build_fn *build;    /* Checks the arguments and builds "args". */
    print_fn *print;    /* Checks and prints the result. */
};

static const char usage_text[]
    = "Usage: sluicectl [OPTIONS] COMMAND\n"
      "Manage the egress IP pools and egresses of a sluice cluster.\n"
      "\n"
      "Commands:\n"
      "  pool create NAME --ranges R[,R...] [--nodes N[,N...]]\n"
      "                   [--node-selector KEY=VALUE[,...]]\n"
      "      Create a pool.  A range is A.B.C.D-E.F.G.H, one address or a\n"
      "      CIDR.  Its IPs may be hosted by the listed nodes and by the\n"
      "      nodes whose labels match the selector (by every node if\n"
      "      neither is given).\n"
      "  pool list\n"
      "  pool show NAME\n"
      "  pool delete NAME\n"
      "  egress create NAME [--namespace GLOB] [--pod GLOB]\n"
      "                     [--pod-selector KEY=VALUE[,...]] [--ip IP]\n"
      "                     [--pool POOL] [--exempt CIDR[,CIDR...]]\n"
      "      Create an egress: the pods it selects (by namespace glob,\n"
      "      pod-name glob and labels) leave the cluster with source address\n"
      "      IP, or one allocated from POOL (at least one of --ip and --pool\n"
      "      is needed).  Traffic to the --exempt CIDRs bypasses it.\n"
      "  egress list\n"
      "  egress show NAME\n"
      "  egress delete NAME\n"
      "  egress move NAME --to NODE\n"
      "      Move the egress's IP to NODE (an eligible node).\n"
      "\n"
      "Options (anywhere on the command line):\n"
      "  -s, --socket PATH   the agent's control socket; default: the value\n"
      "                      of $" CTL_PROTO_SOCKET_ENV
      " if set and nonempty,\n"
      "                      else " CTL_PROTO_DEFAULT_SOCKET "\n"
      "  -o, --output FORMAT table (the default) or json\n"
      "  -t, --timeout SECS  give up after SECS seconds (default 10, at most\n"
      "                      600)\n"
      "  -h, --help          print this help and exit\n"
      "Option values may also be written --option=VALUE.\n"
      "\n"
      "Exit status: 0 success, 2 invalid input (checked here or refused by\n"
      "the agent), 1 any other error (agent unreachable, timeout, ...).\n";

/* Prints "sluicectl: MESSAGE" on stderr as a single line. */
static void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void
fail(const char *fmt, ...)
{
    char msg[CTL_ERROR_MAX];
    va_list args;
    va_start(args, fmt);
    ctl_vformat_error(msg, sizeof msg, fmt, args);
    va_end(args);
    fprintf(stderr, "sluicectl: %s\n", msg);
}

/* Command-line parsing. */

/* Stores 'value' for the option 'display' (as the user wrote it) into
 * '*slot'.  Returns false after reporting a repeated option. */
static bool
set_option(const char **slot, const char *value, const char *display)
{
    if (*slot) {
        fail("option %.64s given more than once", display);
        return false;
    }
    *slot = value;
    return true;
}

/* Returns true if the 'len' bytes at 'name' are 's'. */
static bool
name_is(const char *name, size_t len, const char *s)
{
    return strlen(s) == len && !memcmp(name, s, len);
}

/* Returns the slot in 'cli' of the long option 'name' ('len' bytes), or
 * NULL if there is no such option (--help is handled by the caller). */
static const char **
long_option_slot(struct cli *cli, const char *name, size_t len)
{
    if (name_is(name, len, "socket")) {
        return &cli->socket;
    } else if (name_is(name, len, "output")) {
        return &cli->output;
    } else if (name_is(name, len, "timeout")) {
        return &cli->timeout;
    }
    for (size_t i = 0; i < N_FLAGS; i++) {
        if (name_is(name, len, flag_names[i])) {
            return &cli->flags[i];
        }
    }
    return NULL;
}

/* Parses 'argv' into 'cli'.  Returns false after reporting a usage
 * error. */
static bool
parse_command_line(int argc, char *argv[], struct cli *cli)
{
    memset(cli, 0, sizeof *cli);
    bool options_done = false;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (options_done || arg[0] != '-' || !arg[1]) {
            if (cli->n_words >= sizeof cli->words / sizeof cli->words[0]) {
                fail("unexpected argument '%.64s'", arg);
                return false;
            }
            cli->words[cli->n_words++] = arg;
            continue;
        }
        if (!strcmp(arg, "--")) {
            options_done = true;
            continue;
        }

        const char **slot;
        const char *value = NULL;
        if (arg[1] == '-') {
            const char *name = arg + 2;
            const char *eq = strchr(name, '=');
            size_t len = eq ? (size_t)(eq - name) : strlen(name);
            if (name_is(name, len, "help")) {
                if (eq) {
                    fail("option --help takes no value");
                    return false;
                }
                cli->help = true;
                continue;
            }
            slot = long_option_slot(cli, name, len);
            if (!slot) {
                fail("unknown option '%.64s' (try 'sluicectl --help')", arg);
                return false;
            }
            value = eq ? eq + 1 : NULL;
        } else {
            switch (arg[1]) {
            case 'h':
                if (arg[2]) {
                    fail("unknown option '%.64s' (try 'sluicectl --help')",
                         arg);
                    return false;
                }
                cli->help = true;
                continue;
            case 's':
                slot = &cli->socket;
                break;
            case 'o':
                slot = &cli->output;
                break;
            case 't':
                slot = &cli->timeout;
                break;
            default:
                fail("unknown option '%.64s' (try 'sluicectl --help')", arg);
                return false;
            }
            value = arg[2] ? arg + 2 : NULL;
        }
        if (!value) {
            if (i + 1 >= argc) {
                fail("option %.64s needs a value", arg);
                return false;
            }
            value = argv[++i];
        }
        char display[80];
        int n = arg[1] == '-'
                    ? snprintf(display, sizeof display, "--%.*s",
                               (int)strcspn(arg + 2, "="), arg + 2)
                    : snprintf(display, sizeof display, "-%c", arg[1]);
        if (n < 0 || (size_t)n >= sizeof display) {
            snprintf(display, sizeof display, "%.70s...", arg);
        }
        if (!set_option(slot, value, display)) {
            return false;
        }
    }
    return true;
}

/* Request builders. */

static int
build_pool_create(const struct cli *cli, json_t **args, char *err,
                  size_t err_size)
{
    const char *ranges = cli->flags[FLAG_RANGES];
    if (!ranges) {
        snprintf(err, err_size, "pool create needs --ranges");
        return EINVAL;
    }
    struct egress_pool *pool;
    int error = egress_pool_create(cli->words[2], &pool, err, err_size);
    if (error) {
        return error;
    }
    error = egress_pool_set_ranges(pool, ranges, err, err_size);
    if (!error && cli->flags[FLAG_NODES]) {
        error = egress_pool_set_nodes(pool, cli->flags[FLAG_NODES], err,
                                      err_size);
    }
    if (!error && cli->flags[FLAG_NODE_SELECTOR]) {
        error = egress_pool_set_node_selector(
            pool, cli->flags[FLAG_NODE_SELECTOR], err, err_size);
    }
    if (!error) {
        error = egress_pool_validate(pool, err, err_size);
    }
    if (!error) {
        json_t *json = egress_pool_to_json(pool);
        *args = json ? json_pack("{s:o}", "pool", json) : NULL;
        if (!*args) {
            snprintf(err, err_size, "out of memory");
            error = ENOMEM;
        }
    }
    egress_pool_destroy(pool);
    return error;
}

static int
build_egress_create(const struct cli *cli, json_t **args, char *err,
                    size_t err_size)
{
    struct egress *egress;
    int error = egress_create(cli->words[2], &egress, err, err_size);
    if (error) {
        return error;
    }
    const char *const *f = cli->flags;
    if (!f[FLAG_IP] && !f[FLAG_POOL]) {
        snprintf(err, err_size,
                 "egress create needs --ip or --pool (or both)");
        error = EINVAL;
    }
    if (!error && f[FLAG_NAMESPACE]) {
        error = egress_set_namespace(egress, f[FLAG_NAMESPACE], err, err_size);
    }
    if (!error && f[FLAG_POD]) {
        error = egress_set_pod_name(egress, f[FLAG_POD], err, err_size);
    }
    if (!error && f[FLAG_POD_SELECTOR]) {
        error = egress_set_pod_selector(egress, f[FLAG_POD_SELECTOR], err,
                                        err_size);
    }
    if (!error && f[FLAG_IP]) {
        error = egress_set_ip(egress, f[FLAG_IP], err, err_size);
    }
    if (!error && f[FLAG_POOL]) {
        error = egress_set_pool(egress, f[FLAG_POOL], err, err_size);
    }
    if (!error && f[FLAG_EXEMPT]) {
        error = egress_set_exempt(egress, f[FLAG_EXEMPT], err, err_size);
    }
    if (!error) {
        error = egress_validate(egress, err, err_size);
    }
    if (!error) {
        json_t *json = egress_to_json(egress);
        *args = json ? json_pack("{s:o}", "egress", json) : NULL;
        if (!*args) {
            snprintf(err, err_size, "out of memory");
            error = ENOMEM;
        }
    }
    egress_destroy(egress);
    return error;
}

static int
build_empty(const struct cli *cli, json_t **args, char *err, size_t err_size)
{
    (void)cli;
    *args = json_object();
    if (!*args) {
        snprintf(err, err_size, "out of memory");
        return ENOMEM;
    }
    return 0;
}

/* Checks NAME with the model's own message and builds {"name": NAME}. */
static int
build_name(const struct cli *cli, json_t **args, char *err, size_t err_size)
{
    const char *name = cli->words[2];
    int error;
    if (!strcmp(cli->words[0], "pool")) {
        struct egress_pool *pool;
        error = egress_pool_create(name, &pool, err, err_size);
        egress_pool_destroy(pool);
    } else {
        struct egress *egress;
        error = egress_create(name, &egress, err, err_size);
        egress_destroy(egress);
    }
    if (!error) {
        *args = json_pack("{s:s}", "name", name);
        if (!*args) {
            snprintf(err, err_size, "out of memory");
            error = ENOMEM;
        }
    }
    return error;
}

static int
build_egress_move(const struct cli *cli, json_t **args, char *err,
                  size_t err_size)
{
    const char *to = cli->flags[FLAG_TO];
    if (!to) {
        snprintf(err, err_size, "egress move needs --to NODE");
        return EINVAL;
    }
    int error = build_name(cli, args, err, err_size);
    if (error) {
        return error;
    }
    char **nodes;
    size_t n;
    error = egress_parse_nodes(to, "--to", &nodes, &n, err, err_size);
    if (!error) {
        if (n != 1) {
            snprintf(err, err_size, "--to needs exactly one node name");
            error = EINVAL;
        } else if (json_object_set_new(*args, "node", json_string(nodes[0]))) {
            snprintf(err, err_size, "out of memory");
            error = ENOMEM;
        }
        for (size_t i = 0; i < n; i++) {
            free(nodes[i]);
        }
        free(nodes);
    }
    if (error) {
        json_decref(*args);
        *args = NULL;
    }
    return error;
}

/* Output helpers. */

/* Prints 'result' as pretty JSON with sorted keys. */
static int
print_json(const json_t *result, char *err, size_t err_size)
{
    if (json_dumpf(result, stdout,
                   JSON_INDENT(2) | JSON_SORT_KEYS | JSON_ENSURE_ASCII)
        || putchar('\n') == EOF) {
        snprintf(err, err_size, "cannot write the output");
        return EIO;
    }
    return 0;
}

/* Joins the 'n' 'strings' with ','.  If that is longer than 'max' (0: no
 * limit), returns "N 'nouns'" instead ("1 'noun'"); "<none>" if 'n' is 0.
 * Returns a string the caller frees, or NULL if out of memory. */
static char *
join_list(char *const *strings, size_t n, size_t max, const char *noun,
          const char *nouns)
{
    if (!n) {
        return strdup("<none>");
    }
    size_t len = 0;
    for (size_t i = 0; i < n; i++) {
        len += strlen(strings[i]) + 1;
    }
    if (max && len - 1 > max) {
        char *s;
        return asprintf(&s, "%zu %s", n, n == 1 ? noun : nouns) < 0 ? NULL : s;
    }
    char *s = malloc(len);
    if (s) {
        char *p = s;
        for (size_t i = 0; i < n; i++) {
            size_t l = strlen(strings[i]);
            memcpy(p, strings[i], l);
            p += l;
            *p++ = i + 1 < n ? ',' : '\0';
        }
    }
    return s;
}

/* Returns 's' or, if it is NULL or empty, a copy of 'dflt' (a string the
 * caller frees, NULL if out of memory).  Frees 's' when replacing it. */
static char *
or_default(char *s, const char *dflt)
{
    if (s && s[0]) {
        return s;
    }
    free(s);
    return strdup(dflt);
}

static char *
xstrdup_or_null(const char *s)
{
    return s ? strdup(s) : NULL;
}

static char *
ip_string(uint32_t ip)
{
    char buf[EGRESS_IP_STRLEN];
    return ip ? strdup(egress_ip_to_string(ip, buf)) : NULL;
}

/* A table of strings with a header row, printed with aligned columns. */
struct table {
    size_t n_cols;    /* Columns per row. */
    char **cells;     /* Row-major, each malloc'd (NULL if out of memory). */
    size_t n_cells;   /* Cells filled. */
    size_t allocated; /* Cells allocated. */
    bool nomem;       /* An allocation failed? */
};

static void
table_init(struct table *t, size_t n_cols)
{
    memset(t, 0, sizeof *t);
    t->n_cols = n_cols;
}

/* Appends 'cell' (stolen; NULL means out of memory) to 't'. */
static void
table_add(struct table *t, char *cell)
{
    if (!cell) {
        t->nomem = true;
        return;
    }
    if (t->n_cells == t->allocated) {
        size_t n = t->allocated ? 2 * t->allocated : 32;
        char **cells = realloc(t->cells, n * sizeof *cells);
        if (!cells) {
            t->nomem = true;
            free(cell);
            return;
        }
        t->cells = cells;
        t->allocated = n;
    }
    t->cells[t->n_cells++] = cell;
}

static void
table_destroy(struct table *t)
{
    for (size_t i = 0; i < t->n_cells; i++) {
        free(t->cells[i]);
    }
    free(t->cells);
}

/* Prints 't' (every printable byte as is, others as '?'), three spaces
 * between columns and none after the last. */
static int
table_print(struct table *t, char *err, size_t err_size)
{
    if (t->nomem || t->n_cells % t->n_cols) {
        snprintf(err, err_size, "out of memory");
        return ENOMEM;
    }
    size_t *widths = calloc(t->n_cols, sizeof *widths);
    if (!widths) {
        snprintf(err, err_size, "out of memory");
        return ENOMEM;
    }
    for (size_t i = 0; i < t->n_cells; i++) {
        size_t len = strlen(t->cells[i]);
        size_t *w = &widths[i % t->n_cols];
        *w = len > *w ? len : *w;
    }
    for (size_t i = 0; i < t->n_cells; i++) {
        size_t col = i % t->n_cols;
        const char *cell = t->cells[i];
        for (const char *p = cell; *p; p++) {
            putchar(*p >= 0x20 && *p < 0x7f ? *p : '?');
        }
        if (col + 1 < t->n_cols) {
            printf("%*s", (int)(widths[col] - strlen(cell) + 3), "");
        } else {
            putchar('\n');
        }
    }
    free(widths);
    return 0;
}

/* Adds a "key:" / value row to the two-column 't' (no header). */
static void
table_kv(struct table *t, const char *key, char *value)
{
    char *k;
    table_add(t, asprintf(&k, "%s:", key) < 0 ? NULL : k);
    table_add(t, value);
}

/* Describes which nodes may host a pool's IPs. */
static char *
pool_nodes_cell(const struct egress_pool *pool)
{
    char *nodes = pool->n_nodes
                      ? join_list(pool->nodes, pool->n_nodes, 0, NULL, NULL)
                      : NULL;
    char *selector = pool->node_selector.n
                         ? egress_labels_to_string(&pool->node_selector)
                         : NULL;
    char *cell = NULL;
    if (nodes && selector) {
        if (asprintf(&cell, "%s or %s", nodes, selector) < 0) {
            cell = NULL;
        }
    } else if (pool->n_nodes) {
        cell = xstrdup_or_null(nodes);
    } else if (pool->node_selector.n) {
        cell = xstrdup_or_null(selector);
    } else {
        cell = strdup("<any>");
    }
    free(nodes);
    free(selector);
    return cell;
}

static char *
usage_cell(const struct ctl_pool_status *s)
{
    char *cell;
    return asprintf(&cell, "%llu/%llu", (unsigned long long)s->used,
                    (unsigned long long)s->total)
                   < 0
               ? NULL
               : cell;
}

/* Printers. */

static int
print_pool_list(const struct cli *cli, const json_t *args,
                const json_t *result, enum output_format format, char *err,
                size_t err_size)
{
    (void)cli;
    (void)args;
    struct ctl_pool_list list;
    int error = ctl_pool_list_from_json(result, &list, err, err_size);
    if (error) {
        return error;
    }
    if (format == OUTPUT_JSON) {
        error = print_json(result, err, err_size);
    } else {
        struct table t;
        table_init(&t, 5);
        const char *header[]
            = {"NAME", "RANGES", "NODES", "USED/TOTAL", "EGRESSES"};
        for (size_t i = 0; i < 5; i++) {
            table_add(&t, strdup(header[i]));
        }
        for (size_t i = 0; i < list.n; i++) {
            const struct ctl_pool_status *s = &list.pools[i];
            table_add(&t, strdup(s->pool->name));
            table_add(&t, egress_pool_ranges_to_string(s->pool));
            table_add(&t, pool_nodes_cell(s->pool));
            table_add(&t, usage_cell(s));
            table_add(&t, join_list(s->egresses, s->n_egresses, CELL_LIST_MAX,
                                    "egress", "egresses"));
        }
        error = table_print(&t, err, err_size);
        table_destroy(&t);
    }
    ctl_pool_list_destroy(&list);
    return error;
}

static int
print_pool_show(const struct cli *cli, const json_t *args,
                const json_t *result, enum output_format format, char *err,
                size_t err_size)
{
    (void)cli;
    (void)args;
    struct ctl_pool_status s;
    int error = ctl_pool_status_from_json(result, &s, err, err_size);
    if (error) {
        return error;
    }
    if (format == OUTPUT_JSON) {
        error = print_json(result, err, err_size);
    } else {
        const struct egress_pool *pool = s.pool;
        struct table t;
        table_init(&t, 2);
        table_kv(&t, "name", strdup(pool->name));
        table_kv(&t, "ranges", egress_pool_ranges_to_string(pool));
        table_kv(&t, "nodes",
                 pool->n_nodes || pool->node_selector.n
                     ? join_list(pool->nodes, pool->n_nodes, 0, NULL, NULL)
                     : strdup("<any>"));
        table_kv(&t, "node-selector",
                 or_default(egress_labels_to_string(&pool->node_selector),
                            "<none>"));
        table_kv(&t, "used", usage_cell(&s));
        table_kv(&t, "egresses",
                 join_list(s.egresses, s.n_egresses, 0, NULL, NULL));
        error = table_print(&t, err, err_size);
        table_destroy(&t);
    }
    ctl_pool_status_destroy(&s);
    return error;
}

static int
print_egress_list(const struct cli *cli, const json_t *args,
                  const json_t *result, enum output_format format, char *err,
                  size_t err_size)
{
    (void)cli;
    (void)args;
    struct ctl_egress_list list;
    int error = ctl_egress_list_from_json(result, &list, err, err_size);
    if (error) {
        return error;
    }
    if (format == OUTPUT_JSON) {
        error = print_json(result, err, err_size);
    } else {
        struct table t;
        table_init(&t, 6);
        const char *header[] = {"NAME", "IP", "NODE", "SINCE", "POOL", "PODS"};
        for (size_t i = 0; i < 6; i++) {
            table_add(&t, strdup(header[i]));
        }
        for (size_t i = 0; i < list.n; i++) {
            const struct ctl_egress_status *s = &list.egresses[i];
            table_add(&t, strdup(s->egress->name));
            table_add(&t, or_default(ip_string(s->ip), "<none>"));
            table_add(&t, or_default(xstrdup_or_null(s->node), "<none>"));
            table_add(&t, or_default(xstrdup_or_null(s->since), "<none>"));
            table_add(&t,
                      or_default(xstrdup_or_null(s->egress->pool), "<none>"));
            table_add(&t, join_list(s->pods, s->n_pods, CELL_LIST_MAX, "pod",
                                    "pods"));
        }
        error = table_print(&t, err, err_size);
        table_destroy(&t);
    }
    ctl_egress_list_destroy(&list);
    return error;
}

static int
print_egress_show(const struct cli *cli, const json_t *args,
                  const json_t *result, enum output_format format, char *err,
                  size_t err_size)
{
    (void)cli;
    (void)args;
    struct ctl_egress_status s;
    int error = ctl_egress_status_from_json(result, &s, err, err_size);
    if (error) {
        return error;
    }
    if (format == OUTPUT_JSON) {
        error = print_json(result, err, err_size);
    } else {
        const struct egress *e = s.egress;
        struct table t;
        table_init(&t, 2);
        table_kv(&t, "name", strdup(e->name));
        table_kv(&t, "namespace",
                 or_default(xstrdup_or_null(e->namespace_glob), "<any>"));
        table_kv(&t, "pod", or_default(xstrdup_or_null(e->pod_glob), "<any>"));
        table_kv(
            &t, "pod-selector",
            or_default(egress_labels_to_string(&e->pod_selector), "<any>"));
        table_kv(&t, "pool", or_default(xstrdup_or_null(e->pool), "<none>"));
        table_kv(&t, "ip", or_default(ip_string(s.ip), "<none>"));
        table_kv(&t, "node", or_default(xstrdup_or_null(s.node), "<none>"));
        table_kv(&t, "since", or_default(xstrdup_or_null(s.since), "<none>"));
        table_kv(&t, "exempt",
                 or_default(egress_exempt_to_string(e), "<none>"));
        table_kv(&t, "pods", join_list(s.pods, s.n_pods, 0, NULL, NULL));
        error = table_print(&t, err, err_size);
        table_destroy(&t);
    }
    ctl_egress_status_destroy(&s);
    return error;
}

/* Prints the one-line confirmation of create, delete and move. */
static int
print_done(const struct cli *cli, const json_t *args, const json_t *result,
           enum output_format format, char *err, size_t err_size)
{
    const char *object = cli->words[0];
    const char *verb = cli->words[1];
    uint32_t ip = 0;
    if (!strcmp(object, "egress") && !strcmp(verb, "create")) {
        int error = ctl_egress_created_from_json(result, &ip, err, err_size);
        if (error) {
            return error;
        }
    }
    if (format == OUTPUT_JSON) {
        return print_json(result, err, err_size);
    }
    if (ip) {
        char buf[EGRESS_IP_STRLEN];
        printf("%s %s created with IP %s\n", object, cli->words[2],
               egress_ip_to_string(ip, buf));
    } else if (!strcmp(verb, "move")) {
        /* build_egress_move() checked and normalized it. */
        printf("%s %s moved to node %s\n", object, cli->words[2],
               json_string_value(json_object_get(args, "node")));
    } else {
        printf("%s %s %sd\n", object, cli->words[2], verb);
    }
    return 0;
}

static const struct command commands[] = {
    {"pool", "create", CTL_CMD_POOL_CREATE, true,
     BIT(FLAG_RANGES) | BIT(FLAG_NODES) | BIT(FLAG_NODE_SELECTOR),
     build_pool_create, print_done},
    {"pool", "list", CTL_CMD_POOL_LIST, false, 0, build_empty,
     print_pool_list},
    {"pool", "show", CTL_CMD_POOL_SHOW, true, 0, build_name, print_pool_show},
    {"pool", "delete", CTL_CMD_POOL_DELETE, true, 0, build_name, print_done},
    {"egress", "create", CTL_CMD_EGRESS_CREATE, true,
     BIT(FLAG_NAMESPACE) | BIT(FLAG_POD) | BIT(FLAG_POD_SELECTOR)
         | BIT(FLAG_IP) | BIT(FLAG_POOL) | BIT(FLAG_EXEMPT),
     build_egress_create, print_done},
    {"egress", "list", CTL_CMD_EGRESS_LIST, false, 0, build_empty,
     print_egress_list},
    {"egress", "show", CTL_CMD_EGRESS_SHOW, true, 0, build_name,
     print_egress_show},
    {"egress", "delete", CTL_CMD_EGRESS_DELETE, true, 0, build_name,
     print_done},
    {"egress", "move", CTL_CMD_EGRESS_MOVE, true, BIT(FLAG_TO),
     build_egress_move, print_done},
};

/* Finds the command named by 'cli''s words and checks its arguments and
 * options.  Returns the command, or NULL after reporting a usage error. */
static const struct command *
find_command(const struct cli *cli)
{
    if (!cli->n_words) {
        fail("no command given (try 'sluicectl --help')");
        return NULL;
    }
    const char *object = cli->words[0];
    if (strcmp(object, "pool") && strcmp(object, "egress")) {
        fail("unknown command '%.64s' (expected 'pool' or 'egress'; try "
             "'sluicectl --help')",
             object);
        return NULL;
    }
    if (cli->n_words < 2) {
        fail("'%s' needs a subcommand (try 'sluicectl --help')", object);
        return NULL;
    }
    const struct command *c = NULL;
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
        if (!strcmp(commands[i].object, object)
            && !strcmp(commands[i].verb, cli->words[1])) {
            c = &commands[i];
        }
    }
    if (!c) {
        fail("unknown command '%s %.64s' (try 'sluicectl --help')", object,
             cli->words[1]);
        return NULL;
    }
    for (size_t i = 0; i < N_FLAGS; i++) {
        if (cli->flags[i] && !(c->flags & BIT(i))) {
            fail("option --%s is not valid for '%s %s'", flag_names[i],
                 c->object, c->verb);
            return NULL;
        }
    }
    size_t n_words = c->takes_name ? 3 : 2;
    if (cli->n_words < n_words) {
        fail("'%s %s' needs %s %s name", c->object, c->verb,
             c->object[0] == 'e' ? "an" : "a", c->object);
        return NULL;
    }
    if (cli->n_words > n_words) {
        fail("unexpected argument '%.64s'", cli->words[n_words]);
        return NULL;
    }
    return c;
}

int
main(int argc, char *argv[])
{
    struct cli cli;
    if (!parse_command_line(argc, argv, &cli)) {
        return EXIT_INVALID;
    }
    if (cli.help || (cli.n_words == 1 && !strcmp(cli.words[0], "help"))) {
        fputs(usage_text, stdout);
        return fflush(stdout) ? EXIT_FAILURE : EXIT_SUCCESS;
    }

    enum output_format format = OUTPUT_TABLE;
    if (cli.output) {
        if (!strcmp(cli.output, "json")) {
            format = OUTPUT_JSON;
        } else if (strcmp(cli.output, "table")) {
            fail("invalid output format '%.64s' (expected 'table' or "
                 "'json')",
                 cli.output);
            return EXIT_INVALID;
        }
    }
    int timeout_s = CTL_PROTO_DEFAULT_TIMEOUT_S;
    if (cli.timeout) {
        char *end;
        errno = 0;
        long t = strtol(cli.timeout, &end, 10);
        if (errno || end == cli.timeout || *end || t < 1
            || t > TIMEOUT_MAX_S) {
            fail("invalid timeout '%.64s' (expected 1 to %d seconds)",
                 cli.timeout, TIMEOUT_MAX_S);
            return EXIT_INVALID;
        }
        timeout_s = t;
    }
    const char *socket_path = cli.socket;
    if (!socket_path) {
        const char *env = getenv(CTL_PROTO_SOCKET_ENV);
        socket_path = env && env[0] ? env : CTL_PROTO_DEFAULT_SOCKET;
    }
    if (!socket_path[0] || strlen(socket_path) >= CTL_SOCKET_PATH_MAX) {
        fail("invalid control socket path '%.128s' (empty or longer than "
             "%d bytes)",
             socket_path, CTL_SOCKET_PATH_MAX - 1);
        return EXIT_INVALID;
    }

    const struct command *command = find_command(&cli);
    if (!command) {
        return EXIT_INVALID;
    }
    char err[CTL_ERROR_MAX];
    json_t *args = NULL;
    int error = command->build(&cli, &args, err, sizeof err);
    if (error) {
        fail("%s", err);
        return error == ENOMEM ? EXIT_FAILURE : EXIT_INVALID;
    }
    json_t *request = ctl_request_new(command->name, json_incref(args));
    if (!request) {
        json_decref(args);
        fail("out of memory");
        return EXIT_FAILURE;
    }

    struct ctl_response response;
    error = ctl_client_call(socket_path, timeout_s * 1000, request, &response,
                            err, sizeof err);
    json_decref(request);
    if (error) {
        fail("%s", err);
        json_decref(args);
        return EXIT_FAILURE;
    }
    int status = EXIT_SUCCESS;
    if (response.status == CTL_STATUS_OK) {
        error = command->print(&cli, args, response.result, format, err,
                               sizeof err);
        if (error == EPROTO) {
            fail("malformed answer from the sluice agent at %s: %s",
                 socket_path, err);
            status = EXIT_FAILURE;
        } else if (error) {
            fail("%s", err);
            status = EXIT_FAILURE;
        }
    } else {
        fail("%s", response.error);
        status = (response.status == CTL_STATUS_INVALID ? EXIT_INVALID
                                                        : EXIT_FAILURE);
    }
    ctl_response_destroy(&response);
    json_decref(args);

    if (fflush(stdout) || ferror(stdout)) {
        fail("cannot write the output: %s", strerror(errno));
        return EXIT_FAILURE;
    }
    return status;
}
