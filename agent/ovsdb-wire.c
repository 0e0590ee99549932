/*
 * What ovsdb-server sends, without I/O (see sluice/ovsdb-wire.h): message
 * boundaries in the byte stream, the parsing of a message, and the replica
 * of the monitored rows with its indexes and its accessors.
 */
#include <sluice-config.h>

#include "sluice/ovsdb-wire.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "sluice/log.h"
#include "sluice/util.h"

SLOG_MODULE(ovsdb);

/* Message boundaries. */

void
ovsdb_scanner_init(struct ovsdb_scanner *s)
{
    s->depth = 0;
    s->in_string = s->escape = false;
}

enum ovsdb_scan_result
ovsdb_scanner_run(struct ovsdb_scanner *s, const char *buf, size_t len,
                  size_t *pos, size_t *start)
{
    while (*pos < len) {
        char c = buf[(*pos)++];
        if (!s->depth) {
            if (c == ' ' || c == '\n' || c == '\r' || c == '\t') {
                *start = *pos;
            } else if (c == '{') {
                s->depth = 1;
            } else {
                return OVSDB_SCAN_ERROR;
            }
        } else if (s->in_string) {
            if (s->escape) {
                s->escape = false;
            } else if (c == '\\') {
                s->escape = true;
            } else if (c == '"') {
                s->in_string = false;
            }
        } else if (c == '"') {
            s->in_string = true;
        } else if (c == '{' || c == '[') {
            s->depth++;
        } else if (c == '}' || c == ']') {
            if (!--s->depth) {
                return OVSDB_SCAN_MESSAGE;
            }
        }
    }
    return OVSDB_SCAN_MORE;
}

json_t *
ovsdb_wire_parse(const char *msg, size_t len, char **reason)
{
    json_error_t err;
    json_t *json = json_loadb(msg, len, JSON_DISABLE_EOF_CHECK, &err);
    if (!json) {
        *reason = nofail_asprintf("invalid JSON from ovsdb-server: %s at "
                                  "byte %d",
                                  err.text, err.position);
        return NULL;
    }
    if ((size_t)err.position != len) {
        json_decref(json);
        *reason = nofail_strdup("malformed message from ovsdb-server");
        return NULL;
    }
    return json;
}

/* Tables and the columns monitored in each. */
struct table_def {
    const char *name;           /* As the database spells it. */
    const char *const *columns; /* Monitored columns, NULL-terminated. */
    bool named;                 /* Has a unique "name" column. */
};

static const char *const ovs_columns[]
    = {"other_config", "external_ids", NULL};
static const char *const bridge_columns[]
    = {"name", "ports", "other_config", "external_ids", "datapath_type", NULL};
static const char *const port_columns[]
    = {"name", "interfaces", "external_ids", NULL};
static const char *const iface_columns[]
    = {"name",           "type",       "ofport",
       "ofport_request", "options",    "external_ids",
       "error",          "bfd_status", NULL};

static const struct table_def table_defs[OVSDB_N_TABLES] = {
    [OVSDB_OPEN_VSWITCH] = {"Open_vSwitch", ovs_columns, false},
    [OVSDB_BRIDGE] = {"Bridge", bridge_columns, true},
    [OVSDB_PORT] = {"Port", port_columns, true},
    [OVSDB_INTERFACE] = {"Interface", iface_columns, true},
};

/* Row indexes. */

static uint32_t
hash_string(const char *s)
{
    uint32_t h = 2166136261u;
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 16777619u;
    }
    return h;
}

static struct ovsdb_row **
index_link(struct ovsdb_row *row, bool by_name)
{
    return by_name ? &row->name_next : &row->uuid_next;
}

static const char *
index_key(const struct ovsdb_row *row, bool by_name)
{
    return by_name ? row->name : row->uuid;
}

static size_t
index_bucket(const struct ovsdb_row_index *idx, const char *key)
{
    return hash_string(key) & (idx->n_buckets - 1);
}

static void
index_insert(struct ovsdb_row_index *idx, bool by_name, struct ovsdb_row *row)
{
    if (idx->n >= idx->n_buckets) {
        size_t n_buckets = idx->n_buckets ? 2 * idx->n_buckets : 16;
        struct ovsdb_row **buckets = nofail_calloc(n_buckets, sizeof *buckets);
        for (size_t i = 0; i < idx->n_buckets; i++) {
            struct ovsdb_row *r = idx->buckets[i];
            while (r) {
                struct ovsdb_row *next = *index_link(r, by_name);
                size_t b
                    = hash_string(index_key(r, by_name)) & (n_buckets - 1);
                *index_link(r, by_name) = buckets[b];
                buckets[b] = r;
                r = next;
            }
        }
        free(idx->buckets);
        idx->buckets = buckets;
        idx->n_buckets = n_buckets;
    }
    size_t b = index_bucket(idx, index_key(row, by_name));
    *index_link(row, by_name) = idx->buckets[b];
    idx->buckets[b] = row;
    idx->n++;
}

static void
index_remove(struct ovsdb_row_index *idx, bool by_name, struct ovsdb_row *row)
{
    if (!idx->n_buckets) {
        return;
    }
    struct ovsdb_row **p
        = &idx->buckets[index_bucket(idx, index_key(row, by_name))];
    for (; *p; p = index_link(*p, by_name)) {
        if (*p == row) {
            *p = *index_link(row, by_name);
            idx->n--;
            return;
        }
    }
}

static struct ovsdb_row *
index_find(const struct ovsdb_row_index *idx, bool by_name, const char *key)
{
    if (!idx->n_buckets) {
        return NULL;
    }
    struct ovsdb_row *r = idx->buckets[index_bucket(idx, key)];
    for (; r; r = *index_link(r, by_name)) {
        if (!strcmp(index_key(r, by_name), key)) {
            return r;
        }
    }
    return NULL;
}

/* Rows. */

static struct ovsdb_row *
row_create(enum ovsdb_table table, const char *uuid, json_t *columns)
{
    struct ovsdb_row *row = nofail_calloc(1, sizeof *row);
    row->table = table;
    memcpy(row->uuid, uuid, OVSDB_UUID_LEN);
    row->uuid[OVSDB_UUID_LEN] = '\0';
    row->columns = columns;
    if (table_defs[table].named) {
        row->name = json_string_value(json_object_get(columns, "name"));
    }
    return row;
}

static void
row_destroy(struct ovsdb_row *row)
{
    if (row) {
        json_decref(row->columns);
        free(row);
    }
}

static void
replica_add(struct ovsdb_replica *replica, struct ovsdb_row *row)
{
    struct ovsdb_table_replica *t = &replica->tables[row->table];
    index_insert(&t->by_uuid, false, row);
    if (row->name) {
        index_insert(&t->by_name, true, row);
    }
}

static void
replica_remove(struct ovsdb_replica *replica, struct ovsdb_row *row)
{
    struct ovsdb_table_replica *t = &replica->tables[row->table];
    index_remove(&t->by_uuid, false, row);
    if (row->name) {
        index_remove(&t->by_name, true, row);
    }
}

void
ovsdb_replica_init(struct ovsdb_replica *replica, const char *name,
                   void (*row_changed)(void *aux, enum ovsdb_table,
                                       enum ovsdb_row_event,
                                       const struct ovsdb_row *,
                                       const struct ovsdb_row *),
                   void *aux)
{
    memset(replica, 0, sizeof *replica);
    replica->name = name;
    replica->row_changed = row_changed;
    replica->aux = aux;
}

void
ovsdb_replica_clear(struct ovsdb_replica *replica)
{
    for (int t = 0; t < OVSDB_N_TABLES; t++) {
        struct ovsdb_row_index *idx = &replica->tables[t].by_uuid;
        for (size_t b = 0; b < idx->n_buckets; b++) {
            struct ovsdb_row *row = idx->buckets[b];
            while (row) {
                struct ovsdb_row *next = row->uuid_next;
                row_destroy(row);
                row = next;
            }
        }
        free(idx->buckets);
        free(replica->tables[t].by_name.buckets);
        memset(&replica->tables[t], 0, sizeof replica->tables[t]);
    }
}

static void
notify_row(struct ovsdb_replica *replica, enum ovsdb_table table,
           enum ovsdb_row_event event, const struct ovsdb_row *old_row,
           const struct ovsdb_row *new_row)
{
    if (replica->row_changed) {
        replica->row_changed(replica->aux, table, event, old_row, new_row);
    }
}

static bool
is_uuid(const char *s)
{
    if (strlen(s) != OVSDB_UUID_LEN) {
        return false;
    }
    for (int i = 0; i < OVSDB_UUID_LEN; i++) {
        bool dash = i == 8 || i == 13 || i == 18 || i == 23;
        char c = s[i];
        bool hex = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')
                   || (c >= 'A' && c <= 'F');
        if (dash ? c != '-' : !hex) {
            return false;
        }
    }
    return true;
}

/* Applies the new contents 'update' (all or some columns) of row 'uuid'. */
static void
upsert_row(struct ovsdb_replica *replica, enum ovsdb_table table,
           const char *uuid, json_t *update)
{
    struct ovsdb_row *old
        = index_find(&replica->tables[table].by_uuid, false, uuid);
    json_t *columns;
    if (old) {
        columns = json_copy(old->columns);
        if (!columns || json_object_update(columns, update)) {
            abort_out_of_memory();
        }
        if (json_equal(columns, old->columns)) {
            json_decref(columns);
            old->seen = true;
            return;
        }
    } else {
        columns = json_copy(update);
        if (!columns) {
            abort_out_of_memory();
        }
    }

    struct ovsdb_row *row = row_create(table, uuid, columns);
    row->seen = true;
    row->seqno = ++replica->seqno;
    if (old) {
        replica_remove(replica, old);
    }
    replica_add(replica, row);
    SLOG_DBG("%s %s %s%s%s", old ? "modified" : "inserted",
             table_defs[table].name, uuid, row->name ? " " : "",
             row->name ? row->name : "");
    notify_row(replica, table, old ? OVSDB_ROW_MODIFY : OVSDB_ROW_INSERT, old,
               row);
    row_destroy(old);
}

static void
delete_row(struct ovsdb_replica *replica, struct ovsdb_row *row)
{
    replica_remove(replica, row);
    replica->seqno++;
    SLOG_DBG("deleted %s %s%s%s", table_defs[row->table].name, row->uuid,
             row->name ? " " : "", row->name ? row->name : "");
    notify_row(replica, row->table, OVSDB_ROW_DELETE, row, NULL);
    row_destroy(row);
}

static int
table_from_name(const char *name)
{
    for (int t = 0; t < OVSDB_N_TABLES; t++) {
        if (!strcmp(name, table_defs[t].name)) {
            return t;
        }
    }
    return -1;
}

void
ovsdb_replica_apply_updates(struct ovsdb_replica *replica, json_t *updates)
{
    const char *table_name;
    json_t *table_update;
    json_object_foreach(updates, table_name, table_update)
    {
        int table = table_from_name(table_name);
        if (table < 0 || !json_is_object(table_update)) {
            SLOG_WARN("%s: ignoring update of table %s", replica->name,
                      table_name);
            continue;
        }
        const char *uuid;
        json_t *row_update;
        json_object_foreach(table_update, uuid, row_update)
        {
            if (!is_uuid(uuid) || !json_is_object(row_update)) {
                SLOG_WARN("%s: ignoring malformed update of %s row %s",
                          replica->name, table_name, uuid);
                continue;
            }
            json_t *update = json_object_get(row_update, "new");
            if (json_is_object(update)) {
                upsert_row(replica, table, uuid, update);
            } else {
                struct ovsdb_row *row
                    = index_find(&replica->tables[table].by_uuid, false, uuid);
                if (row) {
                    delete_row(replica, row);
                }
            }
        }
    }
}

void
ovsdb_replica_resync(struct ovsdb_replica *replica, json_t *initial)
{
    for (int t = 0; t < OVSDB_N_TABLES; t++) {
        const struct ovsdb_row *row = NULL;
        while ((row = ovsdb_replica_next(replica, t, row))) {
            ((struct ovsdb_row *)row)->seen = false;
        }
    }

    ovsdb_replica_apply_updates(replica, initial);

    for (int t = 0; t < OVSDB_N_TABLES; t++) {
        size_t n = 0;
        const struct ovsdb_row *row = NULL;
        while ((row = ovsdb_replica_next(replica, t, row))) {
            n += !row->seen;
        }
        if (!n) {
            continue;
        }
        struct ovsdb_row **gone = nofail_calloc(n, sizeof *gone);
        size_t i = 0;
        while ((row = ovsdb_replica_next(replica, t, row))) {
            if (!row->seen) {
                gone[i++] = (struct ovsdb_row *)row;
            }
        }
        for (i = 0; i < n; i++) {
            delete_row(replica, gone[i]);
        }
        free(gone);
    }
}

/* Replica access. */

const struct ovsdb_row *
ovsdb_replica_find(const struct ovsdb_replica *replica, enum ovsdb_table table,
                   const char *uuid)
{
    if ((unsigned)table >= OVSDB_N_TABLES || !uuid) {
        return NULL;
    }
    return index_find(&replica->tables[table].by_uuid, false, uuid);
}

const struct ovsdb_row *
ovsdb_replica_find_by_name(const struct ovsdb_replica *replica,
                           enum ovsdb_table table, const char *name)
{
    if ((unsigned)table >= OVSDB_N_TABLES || !name) {
        return NULL;
    }
    return index_find(&replica->tables[table].by_name, true, name);
}

const struct ovsdb_row *
ovsdb_replica_next(const struct ovsdb_replica *replica, enum ovsdb_table table,
                   const struct ovsdb_row *prev)
{
    if ((unsigned)table >= OVSDB_N_TABLES) {
        return NULL;
    }
    const struct ovsdb_row_index *idx = &replica->tables[table].by_uuid;
    size_t b = 0;
    if (prev) {
        if (prev->uuid_next) {
            return prev->uuid_next;
        }
        b = index_bucket(idx, prev->uuid) + 1;
    }
    for (; b < idx->n_buckets; b++) {
        if (idx->buckets[b]) {
            return idx->buckets[b];
        }
    }
    return NULL;
}

size_t
ovsdb_replica_count(const struct ovsdb_replica *replica,
                    enum ovsdb_table table)
{
    if ((unsigned)table >= OVSDB_N_TABLES) {
        return 0;
    }
    return replica->tables[table].by_uuid.n;
}

const char *
ovsdb_table_name(enum ovsdb_table table)
{
    return (unsigned)table < OVSDB_N_TABLES ? table_defs[table].name
                                            : "(unknown)";
}

const char *const *
ovsdb_table_columns(enum ovsdb_table table)
{
    return table_defs[table].columns;
}

const char *
ovsdb_row_uuid(const struct ovsdb_row *row)
{
    return row->uuid;
}

const char *
ovsdb_row_name(const struct ovsdb_row *row)
{
    return row->name;
}

const struct json_t *
ovsdb_row_get_column(const struct ovsdb_row *row, const char *column)
{
    return json_object_get(row->columns, column);
}

/* If 'value' is ["set", [...]], returns the inner array, else NULL. */
static const json_t *
set_elements(const json_t *value)
{
    if (json_is_array(value) && json_array_size(value) == 2
        && json_is_string(json_array_get(value, 0))
        && !strcmp(json_string_value(json_array_get(value, 0)), "set")) {
        const json_t *elems = json_array_get(value, 1);
        return json_is_array(elems) ? elems : NULL;
    }
    return NULL;
}

/* Returns the single atom of an optional value: NULL for an empty set. */
static const json_t *
optional_atom(const json_t *value)
{
    const json_t *elems = set_elements(value);
    if (elems) {
        return json_array_size(elems) == 1 ? json_array_get(elems, 0) : NULL;
    }
    return value;
}

/* Returns the string of a string or ["uuid", s] atom, else NULL. */
static const char *
atom_string(const json_t *atom)
{
    if (json_is_string(atom)) {
        return json_string_value(atom);
    }
    if (json_is_array(atom) && json_array_size(atom) == 2) {
        const char *tag = json_string_value(json_array_get(atom, 0));
        if (tag && (!strcmp(tag, "uuid") || !strcmp(tag, "named-uuid"))) {
            return json_string_value(json_array_get(atom, 1));
        }
    }
    return NULL;
}

const char *
ovsdb_row_get_string(const struct ovsdb_row *row, const char *column)
{
    return json_string_value(
        optional_atom(json_object_get(row->columns, column)));
}

bool
ovsdb_row_get_int(const struct ovsdb_row *row, const char *column,
                  int64_t *value)
{
    const json_t *atom = optional_atom(json_object_get(row->columns, column));
    if (!json_is_integer(atom)) {
        return false;
    }
    *value = json_integer_value(atom);
    return true;
}

bool
ovsdb_row_map_next(const struct ovsdb_row *row, const char *column,
                   size_t *pos, const char **key, const char **value)
{
    const json_t *map = json_object_get(row->columns, column);
    if (!json_is_array(map) || json_array_size(map) != 2
        || !json_is_string(json_array_get(map, 0))
        || strcmp(json_string_value(json_array_get(map, 0)), "map")) {
        return false;
    }
    const json_t *pairs = json_array_get(map, 1);
    while (*pos < json_array_size(pairs)) {
        const json_t *pair = json_array_get(pairs, (*pos)++);
        const char *k = json_string_value(json_array_get(pair, 0));
        const char *v = json_string_value(json_array_get(pair, 1));
        if (k && v) {
            *key = k;
            *value = v;
            return true;
        }
    }
    return false;
}

const char *
ovsdb_row_map_get(const struct ovsdb_row *row, const char *column,
                  const char *key)
{
    size_t pos = 0;
    const char *k, *v;
    while (ovsdb_row_map_next(row, column, &pos, &k, &v)) {
        if (!strcmp(k, key)) {
            return v;
        }
    }
    return NULL;
}

bool
ovsdb_row_set_next(const struct ovsdb_row *row, const char *column,
                   size_t *pos, const char **elem)
{
    const json_t *value = json_object_get(row->columns, column);
    if (!value) {
        return false;
    }
    const json_t *elems = set_elements(value);
    if (!elems) {
        /* A set of one element may be sent as the bare atom. */
        const char *s = *pos ? NULL : atom_string(value);
        *pos = 1;
        if (s) {
            *elem = s;
        }
        return s != NULL;
    }
    while (*pos < json_array_size(elems)) {
        const char *s = atom_string(json_array_get(elems, (*pos)++));
        if (s) {
            *elem = s;
            return true;
        }
    }
    return false;
}
