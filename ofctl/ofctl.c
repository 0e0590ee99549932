#include <sluice-config.h>

#include "sluice/ofctl.h"

#include <arpa/inet.h>
#include <endian.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sluice/ovs.h"
#include <openflow/openflow.h>
#include <openvswitch/hmap.h>
#include <openvswitch/list.h>
#include <openvswitch/match.h>
#include <openvswitch/ofp-bundle.h>
#include <openvswitch/ofp-errors.h>
#include <openvswitch/ofp-flow.h>
#include <openvswitch/ofp-msgs.h>
#include <openvswitch/ofp-protocol.h>
#include <openvswitch/ofp-table.h>
#include <openvswitch/ofp-util.h>
#include <openvswitch/ofpbuf.h>

#include "sluice/log.h"

SLOG_MODULE(ofctl);

#define OFCTL_VERSION OFP15_VERSION
#define OFCTL_PROTOCOL OFPUTIL_P_OF15_OXM
#define ROUND_SHIFT 56
#define ROUND_MASK (UINT64_C(0xff) << ROUND_SHIFT)

/* Largest OpenFlow message we accept from the switch. */
#define MAX_MSG_SIZE 65535

/* One (table, priority, match): its desired and installed versions. */
struct flow_rec {
    struct hmap_node node;      /* In 'ofctl->flows', by match hash. */
    struct ovs_list owner_node; /* In 'owner->flows'. */
    struct ovs_list dirty_node; /* In 'ofctl->dirty' if changed. */
    bool dirty;                 /* In 'ofctl->dirty'? */
    struct minimatch match;     /* Match, for lookups. */
    uint8_t table_id;           /* Table. */
    uint16_t priority;          /* Priority. */
    uint64_t owner;             /* Owner of the desired flow. */
    char *text;                 /* Desired flow as given, or NULL. */
    struct ofpbuf *desired;     /* Encoded OFPFC_ADD, or NULL if unwanted. */
    struct ofpbuf *installed;   /* What the switch has, or NULL. */
    struct ofpbuf *delete;      /* Encoded OFPFC_DELETE_STRICT. */
};

/* The flows of one owner. */
struct owner {
    struct hmap_node node; /* In 'ofctl->owners', by id. */
    uint64_t id;           /* ofctl_owner() value. */
    struct ovs_list flows; /* flow_rec.owner_node. */
    size_t n_flows;        /* Length of 'flows'. */
};

/* A commit waiting for its barrier reply. */
struct pending {
    struct ovs_list node;   /* In 'ofctl->pending'. */
    uint32_t first_xid;     /* First xid of the bundle. */
    uint32_t barrier_xid;   /* Xid of the barrier that ends it. */
    bool failed;            /* An error arrived for one of its xids. */
    bool is_sync;           /* A full sync? */
    size_t n_cbs;           /* Callbacks waiting on it. */
    struct pending_cb {
        ofctl_commit_cb *cb;
        void *aux;
    } *cbs;
};

enum conn_state {
    CONN_IDLE,       /* Not started, or waiting to reconnect. */
    CONN_CONNECTING, /* uv_pipe_connect() in progress. */
    CONN_HELLO,      /* Hello sent, waiting for the switch's. */
    CONN_UP,         /* Version agreed; flows may be sent. */
};

struct ofctl {
    uv_loop_t *loop;
    char *mgmt_path;               /* Switch's management socket. */
    struct ofputil_table_map table_map;
    struct ofctl_table *tables;    /* Table names to set on connect. */
    size_t n_tables;
    uint8_t round;                 /* Round in new cookies. */
    int stale_round;               /* Round to delete at first sync. */
    bool ever_synced;              /* First sync done by this process? */

    struct hmap flows;             /* flow_rec by (table, priority, match). */
    struct hmap owners;            /* owner by id. */
    struct ovs_list dirty;         /* flow_rec with changes to send. */
    size_t n_desired;              /* Records with 'desired'. */

    /* Connection. */
    enum conn_state state;
    uv_pipe_t *pipe;               /* NULL when not connected. */
    uv_timer_t retry_timer;        /* Reconnection backoff. */
    int backoff_ms;
    uint8_t rxbuf[MAX_MSG_SIZE];   /* Partial message being received. */
    size_t rxlen;
    uint32_t next_xid;
    uint32_t next_bundle_id;
    bool synced;                   /* All desired flows sent after sync? */
    struct ovs_list pending;       /* struct pending, oldest first. */
    struct pending_cb *waiting;    /* Callbacks to hand the next commit. */
    size_t n_waiting, waiting_cap;

    ofctl_sync_cb *sync_cb;
    void *sync_aux;
    struct ofctl_stats stats;
};

static void ofctl_connect(struct ofctl *);
static void ofctl_disconnect(struct ofctl *, int error);
static void ofctl_sync(struct ofctl *);
static void schedule_retry(struct ofctl *);

static uint32_t
rec_hash(uint8_t table_id, uint16_t priority, const struct minimatch *match)
{
    return minimatch_hash(match, ((uint32_t) table_id << 16) | priority);
}

static struct flow_rec *
rec_find(const struct ofctl *ofctl, uint8_t table_id, uint16_t priority,
         const struct minimatch *match, uint32_t hash)
{
    struct flow_rec *rec;
    HMAP_FOR_EACH_WITH_HASH (rec, node, hash, &ofctl->flows) {
        if (rec->table_id == table_id && rec->priority == priority
            && minimatch_equal(&rec->match, match)) {
            return rec;
        }
    }
    return NULL;
}

static struct owner *
owner_find(const struct ofctl *ofctl, uint64_t id)
{
    struct owner *owner;
    HMAP_FOR_EACH_WITH_HASH (owner, node, (uint32_t) (id ^ (id >> 32)),
                             &ofctl->owners) {
        if (owner->id == id) {
            return owner;
        }
    }
    return NULL;
}

static void
rec_mark_dirty(struct ofctl *ofctl, struct flow_rec *rec)
{
    if (!rec->dirty) {
        rec->dirty = true;
        ovs_list_push_back(&ofctl->dirty, &rec->dirty_node);
    }
}

/* Frees 'rec' if it is neither desired nor installed nor dirty. */
static void
rec_maybe_free(struct ofctl *ofctl, struct flow_rec *rec)
{
    if (!rec->desired && !rec->installed && !rec->dirty) {
        hmap_remove(&ofctl->flows, &rec->node);
        minimatch_destroy(&rec->match);
        ofpbuf_delete(rec->delete);
        free(rec->text);
        free(rec);
    }
}

struct ofctl *
ofctl_create(uv_loop_t *loop, const char *mgmt_path,
             const struct ofctl_table *tables, size_t n_tables,
             uint8_t round, int stale_round, ofctl_sync_cb *sync_cb,
             void *aux)
{
    sluice_ovs_init();

    struct ofctl *ofctl = calloc(1, sizeof *ofctl);
    if (!ofctl) {
        return NULL;
    }
    ofctl->loop = loop;
    ofctl->mgmt_path = strdup(mgmt_path);
    ofctl->tables = calloc(n_tables, sizeof *tables);
    if (!ofctl->mgmt_path || (n_tables && !ofctl->tables)) {
        free(ofctl->mgmt_path);
        free(ofctl->tables);
        free(ofctl);
        return NULL;
    }
    memcpy(ofctl->tables, tables, n_tables * sizeof *tables);
    ofctl->n_tables = n_tables;
    ofputil_table_map_init(&ofctl->table_map);
    for (size_t i = 0; i < n_tables; i++) {
        ofputil_table_map_put(&ofctl->table_map, tables[i].id,
                              tables[i].name);
    }
    ofctl->round = round;
    ofctl->stale_round = stale_round;
    hmap_init(&ofctl->flows);
    hmap_init(&ofctl->owners);
    ovs_list_init(&ofctl->dirty);
    ovs_list_init(&ofctl->pending);
    ofctl->state = CONN_IDLE;
    ofctl->next_xid = 1;
    ofctl->next_bundle_id = 1;
    ofctl->backoff_ms = 0;
    ofctl->sync_cb = sync_cb;
    ofctl->sync_aux = aux;
    uv_timer_init(loop, &ofctl->retry_timer);
    ofctl->retry_timer.data = ofctl;
    return ofctl;
}

static void
call_cbs(struct pending_cb *cbs, size_t n, int error)
{
    for (size_t i = 0; i < n; i++) {
        if (cbs[i].cb) {
            cbs[i].cb(cbs[i].aux, error);
        }
    }
}

/* Fails every callback that waits on the switch with 'error'. */
static void
fail_pending(struct ofctl *ofctl, int error)
{
    struct pending *p;
    LIST_FOR_EACH_POP (p, node, &ofctl->pending) {
        call_cbs(p->cbs, p->n_cbs, error);
        free(p->cbs);
        free(p);
    }
}

static void
on_timer_closed(uv_handle_t *handle)
{
    struct ofctl *ofctl = handle->data;
    free(ofctl);
}

void
ofctl_destroy(struct ofctl *ofctl)
{
    if (!ofctl) {
        return;
    }
    ofctl_disconnect(ofctl, ECANCELED);
    call_cbs(ofctl->waiting, ofctl->n_waiting, ECANCELED);
    free(ofctl->waiting);

    struct flow_rec *rec;
    HMAP_FOR_EACH_POP (rec, node, &ofctl->flows) {
        minimatch_destroy(&rec->match);
        ofpbuf_delete(rec->desired);
        if (rec->installed != rec->desired) {
            ofpbuf_delete(rec->installed);
        }
        ofpbuf_delete(rec->delete);
        free(rec->text);
        free(rec);
    }
    hmap_destroy(&ofctl->flows);
    struct owner *owner;
    HMAP_FOR_EACH_POP (owner, node, &ofctl->owners) {
        free(owner);
    }
    hmap_destroy(&ofctl->owners);
    ofputil_table_map_destroy(&ofctl->table_map);
    free(ofctl->tables);
    free(ofctl->mgmt_path);
    uv_close((uv_handle_t *) &ofctl->retry_timer, on_timer_closed);
}

int
ofctl_add_flow(struct ofctl *ofctl, uint64_t owner_id, const char *flow,
               char **errorp)
{
    struct ofputil_flow_mod fm;
    enum ofputil_protocol usable;
    *errorp = NULL;

    char *error = parse_ofp_flow_mod_str(&fm, flow, NULL, &ofctl->table_map,
                                         OFPFC_ADD, &usable);
    if (error) {
        *errorp = error;
        return EINVAL;
    }
    if (!(usable & OFCTL_PROTOCOL)) {
        minimatch_destroy(&fm.match);
        free(fm.ofpacts);
        *errorp = strdup("flow cannot be expressed in OpenFlow 1.5");
        return EINVAL;
    }

    uint32_t hash = rec_hash(fm.table_id, fm.priority, &fm.match);
    struct flow_rec *rec = rec_find(ofctl, fm.table_id, fm.priority,
                                    &fm.match, hash);
    if (rec && rec->desired && rec->owner != owner_id) {
        minimatch_destroy(&fm.match);
        free(fm.ofpacts);
        *errorp = malloc(256);
        if (*errorp) {
            snprintf(*errorp, 256, "flow already owned by %#" PRIx64,
                     rec->owner);
        }
        return EEXIST;
    }

    fm.new_cookie = htobe64(((uint64_t) ofctl->round << ROUND_SHIFT)
                           | owner_id);
    struct ofpbuf *add = ofputil_encode_flow_mod(&fm, OFCTL_PROTOCOL);

    if (!rec) {
        rec = calloc(1, sizeof *rec);
        if (!rec) {
            ofpbuf_delete(add);
            minimatch_destroy(&fm.match);
            free(fm.ofpacts);
            return ENOMEM;
        }
        fm.command = OFPFC_DELETE_STRICT;
        fm.ofpacts_len = 0;
        fm.cookie = fm.cookie_mask = htobe64(0);
        fm.out_port = OFPP_ANY;
        fm.out_group = OFPG_ANY;
        rec->delete = ofputil_encode_flow_mod(&fm, OFCTL_PROTOCOL);
        minimatch_move(&rec->match, &fm.match);
        rec->table_id = fm.table_id;
        rec->priority = fm.priority;
        ovs_list_init(&rec->owner_node);
        hmap_insert(&ofctl->flows, &rec->node, hash);
    } else {
        minimatch_destroy(&fm.match);
    }
    free(fm.ofpacts);

    struct owner *owner = owner_find(ofctl, owner_id);
    if (!owner) {
        owner = calloc(1, sizeof *owner);
        if (!owner) {
            ofpbuf_delete(add);
            rec_maybe_free(ofctl, rec);
            return ENOMEM;
        }
        owner->id = owner_id;
        ovs_list_init(&owner->flows);
        hmap_insert(&ofctl->owners, &owner->node,
                    (uint32_t) (owner_id ^ (owner_id >> 32)));
    }

    char *text = strdup(flow);
    if (!text) {
        ofpbuf_delete(add);
        rec_maybe_free(ofctl, rec);
        return ENOMEM;
    }
    if (rec->desired) {
        /* Same owner states the flow again: replace it. */
        if (rec->desired != rec->installed) {
            ofpbuf_delete(rec->desired);
        }
        free(rec->text);
    } else {
        ovs_list_push_back(&owner->flows, &rec->owner_node);
        owner->n_flows++;
        ofctl->n_desired++;
    }
    rec->desired = add;
    rec->text = text;
    rec->owner = owner_id;
    rec_mark_dirty(ofctl, rec);
    return 0;
}

void
ofctl_remove_owner(struct ofctl *ofctl, uint64_t owner_id)
{
    struct owner *owner = owner_find(ofctl, owner_id);
    if (!owner) {
        return;
    }
    struct flow_rec *rec;
    LIST_FOR_EACH_POP (rec, owner_node, &owner->flows) {
        if (rec->desired != rec->installed) {
            ofpbuf_delete(rec->desired);
        }
        rec->desired = NULL;
        free(rec->text);
        rec->text = NULL;
        ofctl->n_desired--;
        rec_mark_dirty(ofctl, rec);
    }
    hmap_remove(&ofctl->owners, &owner->node);
    free(owner);
}

size_t
ofctl_owner_n_flows(const struct ofctl *ofctl, uint64_t owner_id)
{
    const struct owner *owner = owner_find(ofctl, owner_id);
    return owner ? owner->n_flows : 0;
}

/* Appends 'msg' to 'out' with a fresh xid and returns the xid. */
static uint32_t
append_msg(struct ofctl *ofctl, struct ofpbuf *out, struct ofpbuf *msg)
{
    uint32_t xid = ofctl->next_xid++;
    ofpmsg_update_length(msg);
    struct ofp_header *oh = msg->data;
    oh->xid = htonl(xid);
    ofpbuf_put(out, msg->data, msg->size);
    return xid;
}

/* Appends 'flow_mod' to 'out' wrapped in a bundle add for 'bundle_id'. */
static void
append_bundle_add(struct ofctl *ofctl, struct ofpbuf *out,
                  uint32_t bundle_id, const struct ofpbuf *flow_mod)
{
    struct ofp_header *oh = flow_mod->data;
    oh->xid = htonl(ofctl->next_xid++);
    struct ofputil_bundle_add_msg bam = {
        .bundle_id = bundle_id,
        .flags = OFPBF_ATOMIC | OFPBF_ORDERED,
        .msg = oh,
    };
    struct ofpbuf *msg = ofputil_encode_bundle_add(OFCTL_VERSION, &bam);
    ofpbuf_put(out, msg->data, msg->size);
    ofpbuf_delete(msg);
    ofctl->stats.n_flow_mods++;
}

static void
append_bundle_ctrl(struct ofctl *ofctl, struct ofpbuf *out,
                   uint32_t bundle_id, uint16_t type)
{
    struct ofputil_bundle_ctrl_msg bcm = {
        .bundle_id = bundle_id,
        .type = type,
        .flags = OFPBF_ATOMIC | OFPBF_ORDERED,
    };
    struct ofpbuf *msg = ofputil_encode_bundle_ctrl_request(OFCTL_VERSION,
                                                            &bcm);
    append_msg(ofctl, out, msg);
    ofpbuf_delete(msg);
}

/* Returns a flow mod that deletes every flow whose cookie's round is
 * 'round', or every flow if 'round' is negative. */
static struct ofpbuf *
encode_delete_round(int round)
{
    struct ofputil_flow_mod fm;
    memset(&fm, 0, sizeof fm);
    struct match match;
    match_init_catchall(&match);
    minimatch_init(&fm.match, &match);
    fm.priority = 0;
    fm.table_id = OFPTT_ALL;
    fm.command = OFPFC_DELETE;
    fm.buffer_id = UINT32_MAX;
    fm.out_port = OFPP_ANY;
    fm.out_group = OFPG_ANY;
    fm.new_cookie = OVS_BE64_MAX;
    if (round >= 0) {
        fm.cookie = htobe64((uint64_t) round << ROUND_SHIFT);
        fm.cookie_mask = htobe64(ROUND_MASK);
    }
    struct ofpbuf *msg = ofputil_encode_flow_mod(&fm, OFCTL_PROTOCOL);
    minimatch_destroy(&fm.match);
    return msg;
}

/* A write in flight: libuv's request and the buffer it sends. */
struct write_req {
    uv_write_t req;
    struct ofpbuf *buf;
};

static void
on_write_done(uv_write_t *req_, int status)
{
    struct write_req *req = CONTAINER_OF(req_, struct write_req, req);
    struct ofctl *ofctl = req_->data;
    ofpbuf_delete(req->buf);
    free(req);
    if (status < 0 && status != UV_ECANCELED) {
        SLOG_WARN("%s: write failed: %s", ofctl->mgmt_path,
                  uv_strerror(status));
        ofctl_disconnect(ofctl, EPIPE);
        schedule_retry(ofctl);
    }
}

/* Sends 'out' (taking ownership). */
static void
send_buf(struct ofctl *ofctl, struct ofpbuf *out)
{
    struct write_req *req = malloc(sizeof *req);
    if (!req) {
        ofpbuf_delete(out);
        ofctl_disconnect(ofctl, ENOMEM);
        schedule_retry(ofctl);
        return;
    }
    req->buf = out;
    req->req.data = ofctl;
    uv_buf_t buf = uv_buf_init(out->data, out->size);
    int error = uv_write(&req->req, (uv_stream_t *) ofctl->pipe, &buf, 1,
                         on_write_done);
    if (error) {
        ofpbuf_delete(out);
        free(req);
        SLOG_WARN("%s: write failed: %s", ofctl->mgmt_path,
                  uv_strerror(error));
        ofctl_disconnect(ofctl, EPIPE);
        schedule_retry(ofctl);
    }
}

/* Sends the bundle in 'out' and queues a pending entry that completes with
 * the barrier.  Hands the waiting callbacks to it. */
static void
send_bundle(struct ofctl *ofctl, struct ofpbuf *out, uint32_t first_xid,
            bool is_sync)
{
    struct ofpbuf *barrier = ofputil_encode_barrier_request(OFCTL_VERSION);
    uint32_t barrier_xid = append_msg(ofctl, out, barrier);
    ofpbuf_delete(barrier);

    struct pending *p = calloc(1, sizeof *p);
    if (!p) {
        ofpbuf_delete(out);
        ofctl_disconnect(ofctl, ENOMEM);
        return;
    }
    p->first_xid = first_xid;
    p->barrier_xid = barrier_xid;
    p->is_sync = is_sync;
    p->cbs = ofctl->waiting;
    p->n_cbs = ofctl->n_waiting;
    ofctl->waiting = NULL;
    ofctl->n_waiting = ofctl->waiting_cap = 0;
    ovs_list_push_back(&ofctl->pending, &p->node);
    ofctl->stats.n_bundles++;
    send_buf(ofctl, out);
}

/* Sends every desired flow, replacing whatever the switch has: on the
 * process's first connection the stale round is deleted after the adds,
 * otherwise all flows are deleted first.  One atomic bundle either way. */
static void
ofctl_sync(struct ofctl *ofctl)
{
    struct ofpbuf *out = ofpbuf_new(4096 + ofctl->n_desired * 256);
    uint32_t bundle_id = ofctl->next_bundle_id++;
    uint32_t first_xid = ofctl->next_xid;
    append_bundle_ctrl(ofctl, out, bundle_id, OFPBCT_OPEN_REQUEST);

    bool first = !ofctl->ever_synced;
    if (!first) {
        struct ofpbuf *del = encode_delete_round(-1);
        append_bundle_add(ofctl, out, bundle_id, del);
        ofpbuf_delete(del);
    }

    struct flow_rec *rec, *next;
    HMAP_FOR_EACH_SAFE (rec, next, node, &ofctl->flows) {
        if (rec->dirty) {
            ovs_list_remove(&rec->dirty_node);
            rec->dirty = false;
        }
        if (rec->installed && rec->installed != rec->desired) {
            ofpbuf_delete(rec->installed);
        }
        rec->installed = rec->desired;
        if (rec->desired) {
            append_bundle_add(ofctl, out, bundle_id, rec->desired);
        } else {
            rec_maybe_free(ofctl, rec);
        }
    }

    if (first && ofctl->stale_round >= 0
        && ofctl->stale_round != ofctl->round) {
        struct ofpbuf *del = encode_delete_round(ofctl->stale_round);
        append_bundle_add(ofctl, out, bundle_id, del);
        ofpbuf_delete(del);
    }
    append_bundle_ctrl(ofctl, out, bundle_id, OFPBCT_COMMIT_REQUEST);
    ofctl->stats.n_syncs++;
    SLOG_INFO("%s: syncing %zu flows (round %u, %s)", ofctl->mgmt_path,
              ofctl->n_desired, ofctl->round,
              first ? "replacing the previous round" : "replacing all flows");
    send_bundle(ofctl, out, first_xid, true);
}

static bool
add_waiting(struct ofctl *ofctl, ofctl_commit_cb *cb, void *aux)
{
    if (!cb) {
        return true;
    }
    if (ofctl->n_waiting == ofctl->waiting_cap) {
        size_t cap = ofctl->waiting_cap ? 2 * ofctl->waiting_cap : 4;
        struct pending_cb *w = realloc(ofctl->waiting, cap * sizeof *w);
        if (!w) {
            return false;
        }
        ofctl->waiting = w;
        ofctl->waiting_cap = cap;
    }
    ofctl->waiting[ofctl->n_waiting++] = (struct pending_cb) {cb, aux};
    return true;
}

void
ofctl_commit(struct ofctl *ofctl, ofctl_commit_cb *cb, void *aux)
{
    if (ofctl->state != CONN_UP || !ofctl->synced) {
        /* The next sync sends everything; the caller learns now that the
         * switch does not have it yet. */
        if (cb) {
            cb(aux, ENOTCONN);
        }
        return;
    }
    if (!add_waiting(ofctl, cb, aux)) {
        cb(aux, ENOMEM);
        return;
    }
    if (ovs_list_is_empty(&ofctl->dirty)) {
        if (ovs_list_is_empty(&ofctl->pending)) {
            struct pending_cb *w = ofctl->waiting;
            size_t n = ofctl->n_waiting;
            ofctl->waiting = NULL;
            ofctl->n_waiting = ofctl->waiting_cap = 0;
            call_cbs(w, n, 0);
            free(w);
        } else if (ofctl->n_waiting) {
            /* Completes with the last bundle in flight.  (Never realloc()
             * to 0 bytes: that frees.) */
            struct pending *last = CONTAINER_OF(ovs_list_back(
                                                    &ofctl->pending),
                                                struct pending, node);
            struct pending_cb *cbs = realloc(last->cbs, (last->n_cbs
                                             + ofctl->n_waiting)
                                             * sizeof *cbs);
            if (cbs) {
                memcpy(cbs + last->n_cbs, ofctl->waiting,
                       ofctl->n_waiting * sizeof *cbs);
                last->cbs = cbs;
                last->n_cbs += ofctl->n_waiting;
                ofctl->n_waiting = 0;
            }
        }
        return;
    }

    struct ofpbuf *out = ofpbuf_new(4096);
    uint32_t bundle_id = ofctl->next_bundle_id++;
    uint32_t first_xid = ofctl->next_xid;
    append_bundle_ctrl(ofctl, out, bundle_id, OFPBCT_OPEN_REQUEST);
    struct flow_rec *rec;
    LIST_FOR_EACH_POP (rec, dirty_node, &ofctl->dirty) {
        rec->dirty = false;
        if (rec->desired == rec->installed) {
            continue;
        }
        if (rec->desired) {
            if (!rec->installed || rec->desired->size != rec->installed->size
                || memcmp((char *) rec->desired->data + sizeof(struct
                                                               ofp_header),
                          (char *) rec->installed->data
                              + sizeof(struct ofp_header),
                          rec->desired->size - sizeof(struct ofp_header))) {
                append_bundle_add(ofctl, out, bundle_id, rec->desired);
            }
            ofpbuf_delete(rec->installed);
            rec->installed = rec->desired;
        } else {
            append_bundle_add(ofctl, out, bundle_id, rec->delete);
            ofpbuf_delete(rec->installed);
            rec->installed = NULL;
            rec_maybe_free(ofctl, rec);
        }
    }
    append_bundle_ctrl(ofctl, out, bundle_id, OFPBCT_COMMIT_REQUEST);
    send_bundle(ofctl, out, first_xid, false);
}

bool
ofctl_is_synced(const struct ofctl *ofctl)
{
    return ofctl->state == CONN_UP && ofctl->synced;
}

void
ofctl_get_stats(const struct ofctl *ofctl, struct ofctl_stats *stats)
{
    *stats = ofctl->stats;
    stats->n_desired = ofctl->n_desired;
}

int
ofctl_dump_desired(const struct ofctl *ofctl, const char *file_name)
{
    FILE *file = fopen(file_name, "w");
    if (!file) {
        return errno;
    }
    const struct flow_rec *rec;
    HMAP_FOR_EACH (rec, node, &ofctl->flows) {
        if (rec->text) {
            fprintf(file, "cookie=%#" PRIx64 ",%s\n",
                    ((uint64_t) ofctl->round << ROUND_SHIFT) | rec->owner,
                    rec->text);
        }
    }
    int error = ferror(file) ? EIO : 0;
    if (fclose(file) && !error) {
        error = errno;
    }
    return error;
}

/* Connection handling. */

static void
on_pipe_closed(uv_handle_t *handle)
{
    free(handle);
}

static void
ofctl_disconnect(struct ofctl *ofctl, int error)
{
    bool was_synced = ofctl->synced;
    if (ofctl->pipe) {
        uv_close((uv_handle_t *) ofctl->pipe, on_pipe_closed);
        ofctl->pipe = NULL;
    }
    ofctl->state = CONN_IDLE;
    ofctl->synced = false;
    ofctl->rxlen = 0;
    fail_pending(ofctl, error);
    if (was_synced && ofctl->sync_cb) {
        ofctl->sync_cb(ofctl->sync_aux, false);
    }
}

static void
on_retry(uv_timer_t *timer)
{
    ofctl_connect(timer->data);
}

static void
schedule_retry(struct ofctl *ofctl)
{
    /* The switch is local: retry often, so that an ovs-vswitchd restart
     * costs little more than its own start-up. */
    ofctl->backoff_ms = (ofctl->backoff_ms
                         ? (ofctl->backoff_ms * 2 > 200
                            ? 200 : ofctl->backoff_ms * 2)
                         : 20);
    uv_timer_start(&ofctl->retry_timer, on_retry, ofctl->backoff_ms, 0);
}

/* Sends the table names, as a table features request that modifies only
 * names (OpenFlow 1.5). */
static void
send_table_names(struct ofctl *ofctl)
{
    struct ovs_list requests;
    ovs_list_init(&requests);
    struct ofpbuf *request
        = ofputil_encode_table_features_request(OFCTL_VERSION);
    ovs_list_push_back(&requests, &request->list_node);
    for (size_t i = 0; i < ofctl->n_tables; i++) {
        struct ofputil_table_features tf;
        memset(&tf, 0, sizeof tf);
        tf.command = OFPTFC15_MODIFY;
        tf.table_id = ofctl->tables[i].id;
        snprintf(tf.name, sizeof tf.name, "%s", ofctl->tables[i].name);
        tf.metadata_match = OVS_BE64_MAX;
        tf.metadata_write = OVS_BE64_MAX;
        tf.max_entries = 1000000;
        tf.any_properties = false;
        tf.miss_config = OFPUTIL_TABLE_MISS_DEFAULT;
        tf.supports_eviction = 0;
        tf.supports_vacancy_events = 0;
        ofputil_append_table_features(&tf, NULL, &requests);
    }
    struct ofpbuf *out = ofpbuf_new(4096);
    struct ofpbuf *msg;
    LIST_FOR_EACH_POP (msg, list_node, &requests) {
        append_msg(ofctl, out, msg);
        ofpbuf_delete(msg);
    }
    send_buf(ofctl, out);
}

static void
handle_barrier_reply(struct ofctl *ofctl, uint32_t xid)
{
    while (!ovs_list_is_empty(&ofctl->pending)) {
        struct pending *p = CONTAINER_OF(ovs_list_front(&ofctl->pending),
                                         struct pending, node);
        if ((int32_t) (xid - p->barrier_xid) < 0) {
            break;
        }
        ovs_list_remove(&p->node);
        if (p->is_sync && !p->failed) {
            ofctl->ever_synced = true;
            if (ofctl->sync_cb) {
                ofctl->sync_cb(ofctl->sync_aux, true);
            }
        }
        call_cbs(p->cbs, p->n_cbs, p->failed ? EPROTO : 0);
        free(p->cbs);
        free(p);
    }
}

/* A flow that the switch rejects is a bug in its builder; drop it from the
 * desired flows so that resyncing does not fail the same way forever. */
static void
drop_rejected_flow(struct ofctl *ofctl, uint32_t xid)
{
    struct flow_rec *rec;
    HMAP_FOR_EACH (rec, node, &ofctl->flows) {
        const struct ofp_header *oh = rec->desired ? rec->desired->data
                                                   : NULL;
        if (oh && ntohl(oh->xid) == xid) {
            SLOG_ERR("%s: dropping rejected flow of owner %#" PRIx64 ": %s",
                     ofctl->mgmt_path, rec->owner, rec->text);
            struct owner *owner = owner_find(ofctl, rec->owner);
            if (owner) {
                ovs_list_remove(&rec->owner_node);
                owner->n_flows--;
            }
            if (rec->desired != rec->installed) {
                ofpbuf_delete(rec->desired);
            }
            rec->desired = NULL;
            free(rec->text);
            rec->text = NULL;
            ofctl->n_desired--;
            rec_mark_dirty(ofctl, rec);
            return;
        }
    }
}

static void
handle_error(struct ofctl *ofctl, const struct ofp_header *oh)
{
    uint32_t xid = ntohl(oh->xid);
    enum ofperr error = ofperr_decode_msg(oh, NULL);
    ofctl->stats.n_errors++;

    /* Name the flow that failed, if it was one of ours. */
    const char *what = "";
    struct pending *p;
    LIST_FOR_EACH (p, node, &ofctl->pending) {
        if ((int32_t) (xid - p->first_xid) >= 0
            && (int32_t) (xid - p->barrier_xid) <= 0) {
            p->failed = true;
            what = p->is_sync ? " in sync bundle" : " in bundle";
            break;
        }
    }
    SLOG_ERR("%s: switch rejected message xid %" PRIu32 "%s: %s (%s)",
             ofctl->mgmt_path, xid, what,
             error ? ofperr_get_name(error) : "unknown",
             error ? ofperr_to_string(error) : "undecodable error");
    drop_rejected_flow(ofctl, xid);
    if (*what) {
        /* A rejected bundle leaves the switch as it was; the next sync
         * replaces everything, so the installed state is right again. */
        ofctl->synced = false;
    }
}

static void
handle_msg(struct ofctl *ofctl, const struct ofp_header *oh)
{
    enum ofptype type;
    if (ofptype_decode(&type, oh)) {
        SLOG_DBG("%s: ignoring undecodable message type %u",
                 ofctl->mgmt_path, oh->type);
        return;
    }
    switch (type) {
    case OFPTYPE_HELLO: {
        uint32_t allowed;
        if (ofctl->state != CONN_HELLO) {
            break;
        }
        if (!ofputil_decode_hello(oh, &allowed)
            || !(allowed & (1u << OFCTL_VERSION))
            || oh->version < OFCTL_VERSION) {
            SLOG_ERR("%s: switch does not speak OpenFlow 1.5 (set "
                     "protocols=OpenFlow13,OpenFlow14,OpenFlow15 on the "
                     "bridge)", ofctl->mgmt_path);
            ofctl_disconnect(ofctl, EPROTO);
            schedule_retry(ofctl);
            return;
        }
        ofctl->state = CONN_UP;
        ofctl->backoff_ms = 0;
        SLOG_INFO("%s: connected (OpenFlow 1.5)", ofctl->mgmt_path);
        send_table_names(ofctl);
        ofctl->synced = true;
        ofctl_sync(ofctl);
        break;
    }
    case OFPTYPE_ECHO_REQUEST: {
        struct ofpbuf *reply = ofputil_encode_echo_reply(oh);
        struct ofpbuf *out = ofpbuf_new(reply->size);
        ofpbuf_put(out, reply->data, reply->size);
        ofpbuf_delete(reply);
        send_buf(ofctl, out);
        break;
    }
    case OFPTYPE_ERROR:
        handle_error(ofctl, oh);
        break;
    case OFPTYPE_BARRIER_REPLY:
        handle_barrier_reply(ofctl, ntohl(oh->xid));
        if (!ofctl->synced && ofctl->state == CONN_UP
            && ovs_list_is_empty(&ofctl->pending)) {
            SLOG_WARN("%s: resyncing every flow after an error",
                      ofctl->mgmt_path);
            ofctl->synced = true;
            ofctl_sync(ofctl);
        }
        break;
    default:
        break;
    }
}

static void
alloc_cb(uv_handle_t *handle, size_t suggested, uv_buf_t *buf)
{
    (void) handle;
    buf->base = malloc(suggested);
    buf->len = buf->base ? suggested : 0;
}

static void
on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
    struct ofctl *ofctl = stream->data;
    if (nread < 0) {
        free(buf->base);
        if (ofctl->pipe == (uv_pipe_t *) stream) {
            SLOG_WARN("%s: connection lost: %s", ofctl->mgmt_path,
                      uv_strerror(nread));
            ofctl_disconnect(ofctl, ECONNRESET);
            schedule_retry(ofctl);
        }
        return;
    }

    const uint8_t *p = (const uint8_t *) buf->base;
    size_t n = nread;
    while (n > 0 && ofctl->pipe == (uv_pipe_t *) stream) {
        /* Complete the header, then the body. */
        size_t want = sizeof(struct ofp_header);
        if (ofctl->rxlen >= want) {
            const struct ofp_header *oh = (void *) ofctl->rxbuf;
            want = ntohs(oh->length);
        }
        size_t take = want - ofctl->rxlen < n ? want - ofctl->rxlen : n;
        memcpy(ofctl->rxbuf + ofctl->rxlen, p, take);
        ofctl->rxlen += take;
        p += take;
        n -= take;
        if (ofctl->rxlen == sizeof(struct ofp_header)) {
            const struct ofp_header *oh = (void *) ofctl->rxbuf;
            if (ntohs(oh->length) < sizeof *oh) {
                SLOG_ERR("%s: bad message length %u", ofctl->mgmt_path,
                         ntohs(oh->length));
                ofctl_disconnect(ofctl, EPROTO);
                schedule_retry(ofctl);
                break;
            }
        }
        if (ofctl->rxlen >= sizeof(struct ofp_header)) {
            const struct ofp_header *oh = (void *) ofctl->rxbuf;
            if (ofctl->rxlen == ntohs(oh->length)) {
                ofctl->rxlen = 0;
                handle_msg(ofctl, oh);
            }
        }
    }
    free(buf->base);
}

static void
on_connect(uv_connect_t *req, int status)
{
    struct ofctl *ofctl = req->data;
    uv_pipe_t *pipe = (uv_pipe_t *) req->handle;
    free(req);
    if (ofctl->pipe != pipe) {
        return;
    }
    if (status < 0) {
        SLOG_DBG("%s: connect failed: %s", ofctl->mgmt_path,
                 uv_strerror(status));
        ofctl_disconnect(ofctl, ECONNREFUSED);
        schedule_retry(ofctl);
        return;
    }
    ofctl->state = CONN_HELLO;
    pipe->data = ofctl;
    int error = uv_read_start((uv_stream_t *) pipe, alloc_cb, on_read);
    if (error) {
        ofctl_disconnect(ofctl, EIO);
        schedule_retry(ofctl);
        return;
    }
    struct ofpbuf *hello = ofputil_encode_hello(1u << OFCTL_VERSION);
    struct ofpbuf *out = ofpbuf_new(hello->size);
    append_msg(ofctl, out, hello);
    ofpbuf_delete(hello);
    send_buf(ofctl, out);
}

static void
ofctl_connect(struct ofctl *ofctl)
{
    if (ofctl->pipe) {
        return;
    }
    uv_pipe_t *pipe = malloc(sizeof *pipe);
    uv_connect_t *req = malloc(sizeof *req);
    if (!pipe || !req || uv_pipe_init(ofctl->loop, pipe, 0)) {
        free(pipe);
        free(req);
        schedule_retry(ofctl);
        return;
    }
    pipe->data = ofctl;
    req->data = ofctl;
    ofctl->pipe = pipe;
    ofctl->state = CONN_CONNECTING;
    uv_pipe_connect(req, pipe, ofctl->mgmt_path, on_connect);
}

void
ofctl_start(struct ofctl *ofctl)
{
    ofctl_connect(ofctl);
}
