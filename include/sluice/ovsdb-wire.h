/*
 * The parts of the OVSDB client (sluice/ovsdb.h) that read what
 * ovsdb-server sends, without any I/O: the scanner that finds the
 * boundaries of JSON-RPC messages in the byte stream, the parsing of one
 * message, and the replica of the monitored rows that monitor replies and
 * "update" notifications (RFC 7047 <table-updates>) are applied to.
 *
 * Used by agent/ovsdb.c, which owns one scanner and one replica per client,
 * and by the fuzz target tests/fuzz/fuzz-ovsdb.c.  The owner of a replica
 * reads it with the ovsdb_row_*() functions of sluice/ovsdb.h.
 */
#ifndef SLUICE_OVSDB_WIRE_H
#define SLUICE_OVSDB_WIRE_H 1

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sluice/ovsdb.h"

/* Length of a UUID in its string form. */
#define OVSDB_UUID_LEN 36

/* Message boundaries.  The stream is a sequence of JSON objects without
 * delimiters (whitespace may separate them).  The scanner follows string
 * and bracket nesting over the bytes as they arrive, so each message is
 * found in time linear in its size however it is split across reads. */

struct ovsdb_scanner {
    unsigned depth; /* Bracket nesting at the scan position. */
    bool in_string; /* Inside a JSON string at the scan position. */
    bool escape;    /* After a backslash in a string. */
};

enum ovsdb_scan_result {
    OVSDB_SCAN_MORE,    /* Everything scanned; no complete message. */
    OVSDB_SCAN_MESSAGE, /* A complete message ends at the scan position. */
    OVSDB_SCAN_ERROR,   /* The byte before the scan position cannot start a
                         * message. */
};

/* Initializes 'scanner' for the start of a stream. */
void ovsdb_scanner_init(struct ovsdb_scanner *scanner);

/* Scans 'buf[*pos, len)' with 'scanner', advancing '*pos'.  Whitespace
 * between messages moves '*start' (the start of the next message) past
 * it.  Stops after the last byte of a complete message, which is then
 * 'buf[*start, *pos)', and returns OVSDB_SCAN_MESSAGE; the caller moves
 * '*start' to '*pos' before scanning on.  Returns OVSDB_SCAN_ERROR after a
 * byte that cannot start a message ('buf[*pos - 1]'; the stream is then
 * unusable), or OVSDB_SCAN_MORE once '*pos' is 'len'. */
enum ovsdb_scan_result ovsdb_scanner_run(struct ovsdb_scanner *scanner,
                                         const char *buf, size_t len,
                                         size_t *pos, size_t *start);

/* Parses the 'len' bytes at 'msg', a complete message found by the
 * scanner, as one JSON value that spans all of them.  Returns it, or NULL
 * with a malloc'd one-line reason in '*reason'. */
struct json_t *ovsdb_wire_parse(const char *msg, size_t len, char **reason);

/* The replica. */

/* One version of a replicated row.  A modification replaces the whole
 * struct, so that the owner sees both versions. */
struct ovsdb_row {
    enum ovsdb_table table;        /* Which table. */
    char uuid[OVSDB_UUID_LEN + 1]; /* _uuid. */
    struct json_t *columns;        /* Column name to wire value. */
    const char *name;              /* "name" column in 'columns', or NULL. */
    uint64_t seqno;                /* Replica's change count at creation. */
    bool seen;                     /* Present in the latest monitor reply. */
    struct ovsdb_row *uuid_next;   /* Chain in the table's 'by_uuid'. */
    struct ovsdb_row *name_next;   /* Chain in the table's 'by_name'. */
};

/* A chained hash index of rows, by UUID or by name.  The name index admits
 * duplicates, which can exist for a moment while an update that replaces a
 * row by another of the same name is being applied. */
struct ovsdb_row_index {
    struct ovsdb_row **buckets; /* 'n_buckets' chains, a power of 2. */
    size_t n_buckets;
    size_t n; /* Number of rows. */
};

struct ovsdb_table_replica {
    struct ovsdb_row_index by_uuid; /* All rows. */
    struct ovsdb_row_index by_name; /* Rows that have a name. */
};

/* The rows of the monitored tables. */
struct ovsdb_replica {
    struct ovsdb_table_replica tables[OVSDB_N_TABLES];
    uint64_t seqno;   /* Row versions created (and rows deleted) so far. */
    const char *name; /* Names the server in log messages (not owned). */

    /* Told about each row change, as in struct ovsdb_client_cbs; may be
     * NULL. */
    void (*row_changed)(void *aux, enum ovsdb_table table,
                        enum ovsdb_row_event event,
                        const struct ovsdb_row *old_row,
                        const struct ovsdb_row *new_row);
    void *aux; /* For 'row_changed'. */
};

/* Initializes 'replica' empty, with 'name' for log messages and
 * 'row_changed' (may be NULL) to call with 'aux' on each change. */
void ovsdb_replica_init(struct ovsdb_replica *replica, const char *name,
                        void (*row_changed)(void *aux, enum ovsdb_table,
                                            enum ovsdb_row_event,
                                            const struct ovsdb_row *,
                                            const struct ovsdb_row *),
                        void *aux);

/* Frees every row of 'replica' (without telling 'row_changed'), leaving it
 * empty. */
void ovsdb_replica_clear(struct ovsdb_replica *replica);

/* Applies 'updates', the <table-updates> object of an "update"
 * notification, to 'replica': a row update with a "new" object inserts or
 * modifies its row (only the columns given change), one without deletes
 * it.  Unknown tables and malformed row updates are logged and skipped. */
void ovsdb_replica_apply_updates(struct ovsdb_replica *replica,
                                 struct json_t *updates);

/* Reconciles 'replica' with 'initial', the <table-updates> object of a
 * monitor reply that holds the server's full state: rows are inserted or
 * modified as in ovsdb_replica_apply_updates(), then the rows that
 * 'initial' does not mention are deleted. */
void ovsdb_replica_resync(struct ovsdb_replica *replica,
                          struct json_t *initial);

/* As ovsdb_client_find(), ovsdb_client_find_by_name(), ovsdb_client_next()
 * and ovsdb_client_count() (sluice/ovsdb.h), on 'replica'. */
const struct ovsdb_row *ovsdb_replica_find(const struct ovsdb_replica *,
                                           enum ovsdb_table table,
                                           const char *uuid);
const struct ovsdb_row *
ovsdb_replica_find_by_name(const struct ovsdb_replica *,
                           enum ovsdb_table table, const char *name);
const struct ovsdb_row *ovsdb_replica_next(const struct ovsdb_replica *,
                                           enum ovsdb_table table,
                                           const struct ovsdb_row *prev);
size_t ovsdb_replica_count(const struct ovsdb_replica *,
                           enum ovsdb_table table);

/* Returns the NULL-terminated list of the monitored columns of 'table',
 * which must be valid. */
const char *const *ovsdb_table_columns(enum ovsdb_table table);

#endif /* sluice/ovsdb-wire.h */
