/* Fuzz target for the egress object model's decoders of untrusted input:
 * pool and egress JSON (etcd and the control API), pod labels JSON (the CNI
 * args.cni.labels) and the sluicectl string forms.
 *
 * Input layout: byte 0 picks the decoder, the rest is its input.  Whatever
 * decodes must survive a round trip (encode, decode, compare) and every
 * query function; a difference aborts. */
#include <sluice-config.h>

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sluice/egress-model.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Aborts unless 'err' is a single nonempty line. */
static void
check_message(const char *err)
{
    if (!err[0] || strchr(err, '\n')) {
        fprintf(stderr, "bad error message \"%s\"\n", err);
        abort();
    }
}

static void
fuzz_pool(const char *text, size_t len)
{
    struct egress_pool *pool, *copy;
    char err[256] = "";

    if (egress_pool_from_string(text, len, &pool, err, sizeof err)) {
        check_message(err);
        return;
    }
    char *s = egress_pool_to_string(pool);
    if (!s || egress_pool_from_string(s, strlen(s), &copy, err, sizeof err)
        || !egress_pool_equal(pool, copy)) {
        fprintf(stderr, "pool round trip failed: %s (%s)\n", s ? s : "?", err);
        abort();
    }
    egress_pool_destroy(copy);
    free(s);

    /* Ranges from their string form give the same pool. */
    s = egress_pool_ranges_to_string(pool);
    struct egress_range *ranges;
    size_t n;
    if (!s || egress_parse_ranges(s, NULL, &ranges, &n, err, sizeof err)
        || n != pool->n_ranges
        || memcmp(ranges, pool->ranges, n * sizeof *ranges)) {
        fprintf(stderr, "ranges round trip failed: %s (%s)\n", s ? s : "?",
                err);
        abort();
    }
    free(ranges);
    free(s);

    /* Allocation never leaves the pool and agrees with usage. */
    uint32_t in_use[4];
    size_t n_in_use = 0;
    uint64_t total, used;
    for (; n_in_use < 4; n_in_use++) {
        if (egress_pool_first_free(pool, in_use, n_in_use,
                                   &in_use[n_in_use])) {
            break;
        }
        if (!egress_pool_contains(pool, in_use[n_in_use])) {
            abort();
        }
    }
    if (egress_pool_usage(pool, in_use, n_in_use, &total, &used)
        || used != n_in_use || total != egress_pool_total(pool)
        || (n_in_use < 4 && total != n_in_use)) {
        abort();
    }

    const struct egress_pool *pools[] = {pool};
    if (egress_pool_check(pool, pools, 1, NULL, 0, err, sizeof err)) {
        abort();
    }
    (void)egress_pool_node_eligible(pool, "n1", NULL);
    egress_pool_destroy(pool);
}

static void
fuzz_egress(const char *text, size_t len)
{
    struct egress *egress, *copy;
    char err[256] = "";

    if (egress_from_string(text, len, &egress, err, sizeof err)) {
        check_message(err);
        return;
    }
    char *s = egress_to_string(egress);
    if (!s || egress_from_string(s, strlen(s), &copy, err, sizeof err)
        || !egress_equal(egress, copy)) {
        fprintf(stderr, "egress round trip failed: %s (%s)\n", s ? s : "?",
                err);
        abort();
    }
    egress_destroy(copy);
    free(s);

    const struct egress *list[] = {egress};
    const struct egress *chosen
        = egress_select(list, 1, "prod", "web-1", NULL);
    if (chosen && chosen != egress) {
        abort();
    }
    (void)egress_is_exempt(egress, 0x0a000001);
    (void)egress_check(egress, NULL, 0, list, 1, err, sizeof err);
    s = egress_exempt_to_string(egress);
    free(s);
    egress_destroy(egress);
}

static void
fuzz_strings(uint8_t which, const char *text)
{
    char err[256] = "";
    int error = 0;

    switch (which % 6) {
    case 0: {
        struct egress_labels labels;
        error
            = egress_parse_labels_json(text, "pod", &labels, err, sizeof err);
        if (!error) {
            char *s = egress_labels_to_string(&labels);
            struct egress_labels again;
            if (!s
                || egress_parse_labels(s, NULL, "labels", &again, err,
                                       sizeof err)
                || egress_labels_match(&labels, &again) != true
                || egress_labels_match(&again, &labels) != true) {
                abort();
            }
            egress_labels_destroy(&again);
            free(s);
            egress_labels_destroy(&labels);
        }
        break;
    }
    case 1: {
        struct egress_range *ranges;
        size_t n;
        error = egress_parse_ranges(text, "pool 'p'", &ranges, &n, err,
                                    sizeof err);
        if (!error) {
            free(ranges);
        }
        break;
    }
    case 2: {
        char **nodes;
        size_t n;
        error = egress_parse_nodes(text, NULL, &nodes, &n, err, sizeof err);
        if (!error) {
            for (size_t i = 0; i < n; i++) {
                free(nodes[i]);
            }
            free(nodes);
        }
        break;
    }
    case 3: {
        struct egress_labels labels;
        error = egress_parse_labels(text, NULL, "selector", &labels, err,
                                    sizeof err);
        if (!error) {
            egress_labels_destroy(&labels);
        }
        break;
    }
    case 4: {
        struct egress_cidr *cidrs;
        size_t n;
        error = egress_parse_cidrs(text, NULL, &cidrs, &n, err, sizeof err);
        if (!error) {
            free(cidrs);
        }
        break;
    }
    default:
        error = egress_check_glob(text, NULL, "glob", err, sizeof err);
        if (!error) {
            /* A valid glob must be usable by fnmatch() via selection. */
            struct egress *e;
            if (egress_create("e", &e, err, sizeof err)
                || egress_set_pod_name(e, text, err, sizeof err)) {
                abort();
            }
            (void)egress_selects(e, "ns", text, NULL);
            egress_destroy(e);
        }
        break;
    }
    if (error) {
        check_message(err);
    }
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > EGRESS_JSON_MAX + 1) {
        return 0;
    }
    uint8_t which = data[0];
    data++;
    size--;

    /* The decoders take a length; the string parsers a C string. */
    char *text = malloc(size + 1);
    if (!text) {
        return 0;
    }
    memcpy(text, data, size);
    text[size] = '\0';

    switch (which % 3) {
    case 0:
        fuzz_pool(text, size);
        break;
    case 1:
        fuzz_egress(text, size);
        break;
    default:
        fuzz_strings(which / 3, text);
        break;
    }
    free(text);
    return 0;
}
