/* Fuzz target for what the OVSDB client reads from ovsdb-server
 * (sluice/ovsdb-wire.h): the scanner that finds JSON-RPC messages in the
 * byte stream whatever the reads it arrives in, the parsing of each
 * message, and the replica that monitor replies and "update" notifications
 * are applied to, read back with the row accessors of sluice/ovsdb.h.
 *
 * Input layout: bytes 0 and 1 choose how the rest, the byte stream, is cut
 * into reads (a first cut at a position, then optionally small reads).
 * Messages are dispatched as agent/ovsdb.c does: an "update" notification
 * is applied to the replica, and a reply with an object result is taken as
 * the monitor reply and resynchronizes it.  A failed connection (a bad
 * byte or message) is followed by the next bytes as a new connection, with
 * the replica kept, as the client does when it reconnects.  The message
 * boundaries must not depend on the reads, and the replica, its indexes
 * and the row change reports must stay consistent; a violation aborts. */
#include <sluice-config.h>

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "sluice/log.h"
#include "sluice/ovsdb-wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_MESSAGES 4096

static void
fail(const char *what)
{
    fprintf(stderr, "fuzz-ovsdb: %s\n", what);
    abort();
}

/* Message boundaries as offsets in the whole stream. */
struct bounds {
    size_t start[MAX_MESSAGES];
    size_t end[MAX_MESSAGES];
    size_t n;
    size_t n_errors; /* Bytes that could not start a message. */
};

static void
bounds_add(struct bounds *b, size_t start, size_t end)
{
    if (b->n < MAX_MESSAGES) {
        b->start[b->n] = start;
        b->end[b->n] = end;
    }
    b->n++;
}

/* Reads one row the way the agent does, through every accessor. */
static void
read_row(const struct ovsdb_row *row)
{
    static const char *const extra[] = {"_uuid", "_version", "nonexistent"};
    const char *const *columns = ovsdb_table_columns(row->table);
    size_t n_columns = 0;
    while (columns[n_columns]) {
        n_columns++;
    }
    for (size_t i = 0; i < n_columns + 3; i++) {
        const char *column = i < n_columns ? columns[i] : extra[i - n_columns];
        const char *s = ovsdb_row_get_string(row, column);
        if (s) {
            (void)strlen(s);
        }
        int64_t v;
        (void)ovsdb_row_get_int(row, column, &v);
        (void)ovsdb_row_get_column(row, column);

        size_t pos = 0, n = 0;
        const char *key, *value;
        while (ovsdb_row_map_next(row, column, &pos, &key, &value)) {
            if (!key || !value || ++n > 100000) {
                fail("map iteration");
            }
            if (!ovsdb_row_map_get(row, column, key)) {
                fail("map_get() misses a key that map_next() returned");
            }
        }
        pos = n = 0;
        const char *elem;
        while (ovsdb_row_set_next(row, column, &pos, &elem)) {
            if (!elem || ++n > 100000) {
                fail("set iteration");
            }
        }
    }
}

/* Checks the indexes of 'replica' against iteration, and reads every
 * row. */
static void
check_replica(const struct ovsdb_replica *replica)
{
    for (int t = 0; t < OVSDB_N_TABLES; t++) {
        size_t n = 0;
        const struct ovsdb_row *row = NULL;
        while ((row = ovsdb_replica_next(replica, t, row))) {
            if (++n > ovsdb_replica_count(replica, t)) {
                fail("iteration returns more rows than the count");
            }
            if (row->table != (enum ovsdb_table)t
                || strlen(ovsdb_row_uuid(row)) != OVSDB_UUID_LEN
                || ovsdb_replica_find(replica, t, ovsdb_row_uuid(row))
                       != row) {
                fail("row not found by its table and uuid");
            }
            const char *name = ovsdb_row_name(row);
            if (name) {
                const struct ovsdb_row *named
                    = ovsdb_replica_find_by_name(replica, t, name);
                if (!named || strcmp(ovsdb_row_name(named), name)) {
                    fail("row not found by its name");
                }
            } else if (t != OVSDB_OPEN_VSWITCH
                       && json_is_string(ovsdb_row_get_column(row, "name"))) {
                fail("row with a string name has no name");
            }
            read_row(row);
        }
        if (n != ovsdb_replica_count(replica, t)) {
            fail("iteration returns fewer rows than the count");
        }
    }
}

/* The row_changed callback: each report must match the replica. */
static void
row_changed(void *replica_, enum ovsdb_table table, enum ovsdb_row_event event,
            const struct ovsdb_row *old_row, const struct ovsdb_row *new_row)
{
    const struct ovsdb_replica *replica = replica_;
    switch (event) {
    case OVSDB_ROW_INSERT:
        if (old_row || !new_row) {
            fail("insert with an old row or without a new one");
        }
        break;
    case OVSDB_ROW_MODIFY:
        if (!old_row || !new_row || old_row == new_row
            || strcmp(ovsdb_row_uuid(old_row), ovsdb_row_uuid(new_row))
            || old_row->table != table) {
            fail("bad modification");
        }
        read_row(old_row);
        break;
    case OVSDB_ROW_DELETE:
        if (!old_row || new_row || old_row->table != table
            || ovsdb_replica_find(replica, table, ovsdb_row_uuid(old_row))) {
            fail("bad deletion");
        }
        read_row(old_row);
        return;
    default:
        fail("unknown row event");
    }
    if (new_row->table != table
        || ovsdb_replica_find(replica, table, ovsdb_row_uuid(new_row))
               != new_row
        || new_row->seqno != replica->seqno) {
        fail("reported row is not the replica's");
    }
    read_row(new_row);
}

/* Dispatches one message as handle_msg() in agent/ovsdb.c does.  Returns
 * false where the client fails the connection. */
static bool
handle_msg(struct ovsdb_replica *replica, json_t *msg)
{
    json_t *method = json_object_get(msg, "method");
    if (method) {
        const char *name = json_string_value(method);
        json_t *params = json_object_get(msg, "params");
        if (!name || !json_is_array(params)) {
            return false;
        }
        if (!strcmp(name, "update")) {
            json_t *updates = json_array_get(params, 1);
            if (!json_is_object(updates)) {
                return false;
            }
            ovsdb_replica_apply_updates(replica, updates);
        }
        return true;
    }
    json_t *result = json_object_get(msg, "result");
    json_t *error = json_object_get(msg, "error");
    if (!json_is_integer(json_object_get(msg, "id"))) {
        return true;
    }
    if ((error && !json_is_null(error)) || !json_is_object(result)) {
        return false;
    }
    ovsdb_replica_resync(replica, result);
    return true;
}

/* Reads the stream 'data' in pieces as agent/ovsdb.c does: 'cut' bytes
 * first, then 'chunk' bytes at a time (0: all the rest).  Records message
 * boundaries in 'b'; with a 'replica', parses and applies the messages. */
static void
run_stream(const uint8_t *data, size_t size, size_t cut, size_t chunk,
           struct ovsdb_replica *replica, struct bounds *b)
{
    char *buf = malloc(size + 1);
    size_t len = 0, start = 0, pos = 0;
    size_t base = 0; /* Stream offset of 'buf[0]'. */
    size_t fed = 0;
    struct ovsdb_scanner scanner;

    if (!buf) {
        fail("out of memory");
    }
    ovsdb_scanner_init(&scanner);
    for (bool first = true; fed < size; first = false) {
        size_t n = first ? cut : chunk ? chunk : size - fed;
        if (n > size - fed) {
            n = size - fed;
        }
        memcpy(buf + len, data + fed, n);
        len += n;
        fed += n;

        while (pos < len) {
            enum ovsdb_scan_result r
                = ovsdb_scanner_run(&scanner, buf, len, &pos, &start);
            if (r == OVSDB_SCAN_MORE) {
                if (pos != len) {
                    fail("scanner stopped early");
                }
                break;
            }
            bool ok = true;
            if (r == OVSDB_SCAN_ERROR) {
                b->n_errors++;
                ok = false;
            } else if (r == OVSDB_SCAN_MESSAGE) {
                if (start >= pos || buf[start] != '{'
                    || (buf[pos - 1] != '}' && buf[pos - 1] != ']')) {
                    fail("message not delimited by brackets");
                }
                bounds_add(b, base + start, base + pos);
                if (replica) {
                    char *reason = NULL;
                    json_t *msg
                        = ovsdb_wire_parse(buf + start, pos - start, &reason);
                    if (!msg) {
                        if (!reason || strchr(reason, '\n')) {
                            fail("parse failure without a one-line reason");
                        }
                        free(reason);
                        ok = false;
                    } else {
                        if (!json_is_object(msg)) {
                            fail("message is not an object");
                        }
                        ok = handle_msg(replica, msg);
                        json_decref(msg);
                        check_replica(replica);
                    }
                }
                start = pos;
            } else {
                fail("unknown scan result");
            }
            if (!ok) {
                /* A new connection starts with the next byte. */
                ovsdb_scanner_init(&scanner);
                start = pos;
            }
        }

        /* Keep only the unfinished message. */
        memmove(buf, buf + start, len - start);
        len -= start;
        pos -= start;
        base += start;
        start = 0;
    }
    free(buf);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct bounds pieces, whole;
    static bool initialized;

    if (!initialized) {
        slog_set_level(SLOG_LEVEL_ERR);
        initialized = true;
    }
    if (size < 2 || size > 1024 * 1024) {
        return 0;
    }
    size_t seed = (size_t)data[0] << 8 | data[1];
    size_t chunk = data[0] & 0x80 ? (data[0] & 0x0f) + 1 : 0;
    data += 2;
    size -= 2;
    size_t cut = seed % (size + 1);

    struct ovsdb_replica replica;
    ovsdb_replica_init(&replica, "fuzz", row_changed, &replica);
    memset(&pieces, 0, sizeof pieces);
    run_stream(data, size, cut, chunk, &replica, &pieces);
    ovsdb_replica_clear(&replica);
    check_replica(&replica);

    /* Reading everything at once finds the same messages. */
    memset(&whole, 0, sizeof whole);
    run_stream(data, size, size, 0, NULL, &whole);
    if (whole.n != pieces.n || whole.n_errors != pieces.n_errors) {
        fail("reads changed the number of messages");
    }
    for (size_t i = 0; i < whole.n && i < MAX_MESSAGES; i++) {
        if (whole.start[i] != pieces.start[i]
            || whole.end[i] != pieces.end[i]) {
            fail("reads changed a message's boundaries");
        }
    }
    return 0;
}
