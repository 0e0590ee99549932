/*
 * Pods: the CNI commands and the table of attached pods.
 *
 * An ADD allocates an address, creates the veth pair (podif), adds the
 * host end to br-int with external_ids that describe the pod, waits for its
 * OpenFlow port, states the pod's flows and answers once the switch has
 * them.  Any failure on the way undoes what was done.  DEL undoes an ADD
 * and succeeds for pods it does not know.  The pod table is rebuilt at
 * start from the Interface rows' external_ids, so nothing but the IPAM
 * store is persisted by the agent itself.
 */
#include <sluice-config.h>

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sluice/agent.h"
#include "sluice/cni-args.h"
#include "sluice/cni-server.h"
#include "sluice/egress.h"
#include "sluice/ipam.h"
#include "sluice/log.h"
#include "sluice/ofctl.h"
#include "sluice/ovsdb.h"
#include "sluice/podif.h"

SLOG_MODULE(pods);

/* external_ids keys on a pod's Port and Interface rows. */
#define ID_CONTAINER "sluice-container-id"
#define ID_IFNAME "sluice-ifname"
#define ID_NAMESPACE "sluice-pod-namespace"
#define ID_NAME "sluice-pod-name"
#define ID_IP "sluice-ip"
#define ID_MAC "sluice-mac"
#define ID_NETNS "sluice-netns"
#define ID_LABELS "sluice-pod-labels"


enum pod_state {
    POD_ADDING,   /* ADD in progress. */
    POD_READY,    /* Attached. */
    POD_DELETING, /* DEL in progress. */
};

struct pod {
    struct pod *next;                /* In agent->pods. */
    struct agent *agent;
    enum pod_state state;
    char container_id[IPAM_MAX_CONTAINER_ID + 1];
    char ifname[IPAM_MAX_IFNAME + 1];           /* Inside the pod. */
    char pod_namespace[IPAM_MAX_POD_NAMESPACE + 1];
    char pod_name[IPAM_MAX_POD_NAME + 1];
    char host_ifname[16];                       /* Host end of the veth. */
    char *netns;                                /* CNI_NETNS. */
    char *labels;                               /* JSON object, or NULL. */
    struct in_addr ip;
    uint8_t mac[6];
    uint32_t ofport;                            /* 0 until known. */
    bool has_port;                              /* Added to OVSDB? */
    bool has_flows;                             /* Flows stated? */

    /* An ADD in progress: steps outstanding and the first failure. */
    int add_pending;
    int add_error;
    char add_error_msg[256];

    /* The request in progress, if any. */
    struct cni_request *request;
    char *cni_version;
};

/* Logging names a pod as "namespace/name" (or its container id). */
static const char *
pod_label(const struct pod *pod, char buf[320])
{
    if (pod->pod_name[0]) {
        snprintf(buf, 320, "%s/%s", pod->pod_namespace, pod->pod_name);
    } else {
        snprintf(buf, 320, "container %.40s", pod->container_id);
    }
    return buf;
}

static struct pod *
pod_find(const struct agent *agent, const char *container_id,
         const char *ifname)
{
    for (struct pod *pod = agent->pods; pod; pod = pod->next) {
        if (!strcmp(pod->container_id, container_id)
            && !strcmp(pod->ifname, ifname)) {
            return pod;
        }
    }
    return NULL;
}

static struct pod *
pod_create(struct agent *agent, const char *container_id, const char *ifname)
{
    struct pod *pod = calloc(1, sizeof *pod);
    if (!pod) {
        return NULL;
    }
    pod->agent = agent;
    snprintf(pod->container_id, sizeof pod->container_id, "%s",
             container_id);
    snprintf(pod->ifname, sizeof pod->ifname, "%s", ifname);
    pod->next = agent->pods;
    agent->pods = pod;
    agent->n_pods++;
    return pod;
}

static void
pod_free(struct pod *pod)
{
    struct agent *agent = pod->agent;
    for (struct pod **p = &agent->pods; *p; p = &(*p)->next) {
        if (*p == pod) {
            *p = pod->next;
            agent->n_pods--;
            break;
        }
    }
    free(pod->netns);
    free(pod->labels);
    free(pod->cni_version);
    free(pod);
}

void
pods_destroy(struct agent *agent)
{
    while (agent->pods) {
        struct pod *pod = agent->pods;
        if (pod->request) {
            cni_request_fail(pod->request, pod->cni_version,
                             CNI_ERR_TRY_AGAIN, "sluice agent is stopping");
            pod->request = NULL;
        }
        pod_free(pod);
    }
}

static void
pod_reply_error(struct pod *pod, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
pod_reply_error(struct pod *pod, int code, const char *fmt, ...)
{
    char msg[512];
    va_list args;
    va_start(args, fmt);
    vsnprintf(msg, sizeof msg, fmt, args);
    va_end(args);
    if (pod->request) {
        cni_request_fail(pod->request, pod->cni_version, code, "%s", msg);
        pod->request = NULL;
    }
}

/* Returns the CNI result of an attached pod for 'cni_version'. */
static json_t *
pod_result(const struct pod *pod, const char *cni_version)
{
    const struct agent *agent = pod->agent;
    char ip[INET_ADDRSTRLEN], gw[INET_ADDRSTRLEN], cidr[32], mac[18];
    inet_ntop(AF_INET, &pod->ip, ip, sizeof ip);
    inet_ntop(AF_INET, &agent->node.gateway_ip, gw, sizeof gw);
    snprintf(cidr, sizeof cidr, "%s/%u", ip, agent->pod_prefix_len);
    pipeline_format_mac(pod->mac, mac);

    json_t *ipconf = json_pack("{s:s, s:s, s:i}", "address", cidr,
                               "gateway", gw, "interface", 1);
    int cmp;
    if (ipconf && !cni_version_compare(cni_version, "1.0.0", &cmp)
        && cmp < 0) {
        json_object_set_new(ipconf, "version", json_string("4"));
    }
    return json_pack("{s:s, s:[{s:s}, {s:s, s:s, s:s}], s:[o],"
                     " s:[{s:s, s:s}], s:{}}",
                     "cniVersion", cni_version,
                     "interfaces", "name", pod->host_ifname,
                     "name", pod->ifname, "mac", mac, "sandbox",
                     pod->netns ? pod->netns : "",
                     "ips", ipconf,
                     "routes", "dst", "0.0.0.0/0", "gw", gw,
                     "dns");
}

/* Undoing an ADD, or doing a DEL: flows, port, veth, address. */

static void on_port_deleted(void *aux, int error, const char *msg);

/* Deleting a veth takes the kernel ~20 ms (an RCU grace period), most of
 * a DEL's time, so it runs on libuv's thread pool after the DEL is
 * answered.  An ADD that meets the name still in use deletes it itself. */
struct veth_delete {
    uv_work_t work;
    char name[16];  /* Host end of the veth. */
    char *err;      /* Failure message, if any. */
};

/* Each worker thread has its own netlink socket. */
static _Thread_local struct podif_ctx *worker_podif;

static void
veth_delete_work(uv_work_t *work)
{
    struct veth_delete *vd = (struct veth_delete *) work;
    if (!worker_podif) {
        int error = podif_ctx_create(&worker_podif);
        if (error) {
            if (asprintf(&vd->err, "netlink: %s", strerror(error)) < 0) {
                vd->err = NULL;
            }
            return;
        }
    }
    podif_delete(worker_podif, vd->name, &vd->err);
}

static void
veth_delete_done(uv_work_t *work, int status)
{
    struct veth_delete *vd = (struct veth_delete *) work;
    if (vd->err || status) {
        SLOG_WARN("veth %s: %s", vd->name,
                  vd->err ? vd->err : uv_strerror(status));
    }
    free(vd->err);
    free(vd);
}

static void
delete_veth_later(struct agent *agent, const char *name)
{
    struct veth_delete *vd = calloc(1, sizeof *vd);
    if (vd) {
        snprintf(vd->name, sizeof vd->name, "%s", name);
        if (!uv_queue_work(agent->loop, &vd->work, veth_delete_work,
                           veth_delete_done)) {
            return;
        }
        free(vd);
    }
    char *err = NULL;
    if (podif_delete(agent->podif, name, &err)) {
        SLOG_WARN("veth %s: %s", name, err);
        free(err);
    }
}

/* Finishes removing 'pod' once its port is gone: releases the address,
 * answers the request (if any), has the veth deleted and frees 'pod'. */
static void
pod_finish_removal(struct pod *pod)
{
    struct agent *agent = pod->agent;
    char name[320];
    pod_label(pod, name);

    char ipam_err[256];
    bool released = false;
    if (ipam_release(agent->ipam, pod->container_id, pod->ifname, &released,
                     ipam_err, sizeof ipam_err)) {
        SLOG_ERR("pod %s: %s", name, ipam_err);
        pod_reply_error(pod, CNI_ERR_IO, "pod %s: %s", name, ipam_err);
        delete_veth_later(agent, pod->host_ifname);
        pod_free(pod);
        return;
    }
    if (pod->state == POD_DELETING) {
        SLOG_INFO("pod %s: detached (port %s)", name, pod->host_ifname);
        if (pod->request) {
            cni_request_reply(pod->request, 0, NULL);
            pod->request = NULL;
        }
    }
    delete_veth_later(agent, pod->host_ifname);
    pod_free(pod);
}

/* Starts removing everything 'pod' has.  Its request is answered at the
 * end (with success for a DEL; an undone ADD has been answered already). */
static void
pod_remove(struct pod *pod)
{
    struct agent *agent = pod->agent;
    if (pod->has_flows && agent->ofctl) {
        egress_pod_detached(agent->egress, pod->ofport);
        pipeline_remove_pod_flows(agent->ofctl, pod->ofport);
        ofctl_commit(agent->ofctl, NULL, NULL);
        pod->has_flows = false;
    }
    int error = ovsdb_client_del_port(agent->ovsdb, pod->host_ifname,
                                      on_port_deleted, pod);
    if (error) {
        char name[320];
        SLOG_WARN("pod %s: cannot delete port %s: %s", pod_label(pod, name),
                  pod->host_ifname, strerror(error));
        if (pod->state == POD_DELETING) {
            pod_reply_error(pod, CNI_ERR_TRY_AGAIN,
                            "cannot delete OVS port %s: %s",
                            pod->host_ifname, strerror(error));
            pod->state = POD_READY;
            return;
        }
        pod_finish_removal(pod);
    }
}

static void
on_port_deleted(void *aux, int error, const char *msg)
{
    struct pod *pod = aux;
    if (error) {
        char name[320];
        SLOG_WARN("pod %s: %s", pod_label(pod, name), msg);
        if (pod->state == POD_DELETING) {
            pod_reply_error(pod, CNI_ERR_TRY_AGAIN, "%s", msg);
            pod->state = POD_READY;
            return;
        }
    }
    pod_finish_removal(pod);
}

/* Fails the ADD of 'pod' with 'code' and the formatted message, and undoes
 * it. */
static void pod_add_failed(struct pod *pod, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
pod_add_failed(struct pod *pod, int code, const char *fmt, ...)
{
    char msg[512], name[320];
    va_list args;
    va_start(args, fmt);
    vsnprintf(msg, sizeof msg, fmt, args);
    va_end(args);
    SLOG_ERR("pod %s: ADD failed: %s", pod_label(pod, name), msg);
    pod_reply_error(pod, code, "%s", msg);
    pod_remove(pod);
}

/* ADD, step by step. */

static struct egress_pod
pod_to_egress_pod(const struct pod *pod)
{
    struct egress_pod ep = {
        .pod_namespace = pod->pod_namespace,
        .pod_name = pod->pod_name,
        .labels = pod->labels,
        .ip = pod->ip,
        .ofport = pod->ofport,
    };
    return ep;
}

/* States the pod's flows, including its egress steering, so that they
 * reach the switch in one bundle. */
static int
pod_add_flows(struct pod *pod)
{
    struct agent *agent = pod->agent;
    struct pipeline_pod pp = {.ofport = pod->ofport, .ip = pod->ip};
    memcpy(pp.mac, pod->mac, sizeof pp.mac);
    int error = pipeline_add_pod_flows(agent->ofctl, &agent->node, &pp);
    pod->has_flows = !error;
    if (!error) {
        struct egress_pod ep = pod_to_egress_pod(pod);
        egress_pod_attached(agent->egress, &ep);
    }
    return error;
}

void
pods_for_each(struct agent *agent,
              void (*cb)(struct agent *, const struct egress_pod *, void *),
              void *aux)
{
    for (struct pod *pod = agent->pods; pod; pod = pod->next) {
        if (pod->has_flows && pod->state != POD_DELETING) {
            struct egress_pod ep = pod_to_egress_pod(pod);
            cb(agent, &ep, aux);
        }
    }
}

/* An ADD waits for two things at once: the OVSDB transaction that adds
 * the port (with the OpenFlow port number the agent chose), and the barrier
 * after the pod's flows.  It does not wait for ovs-vswitchd to create the
 * port, which costs it a bridge reconfiguration (tens of ms with many
 * ports); the flows are in place when it does. */
static void
add_step_done(struct pod *pod, int code, const char *msg)
{
    if (code && !pod->add_error) {
        pod->add_error = code;
        snprintf(pod->add_error_msg, sizeof pod->add_error_msg, "%s", msg);
    }
    if (--pod->add_pending > 0) {
        return;
    }
    if (pod->add_error) {
        pod_add_failed(pod, pod->add_error, "%s", pod->add_error_msg);
        return;
    }
    char name[320], ip[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, &pod->ip, ip, sizeof ip);
    SLOG_INFO("pod %s: attached %s on port %s (ofport %" PRIu32 ")",
              pod_label(pod, name), ip, pod->host_ifname, pod->ofport);
    pod->state = POD_READY;
    json_t *result = pod_result(pod, pod->cni_version);
    if (!result) {
        pod_add_failed(pod, CNI_ERR_INTERNAL, "out of memory");
        return;
    }
    cni_request_reply(pod->request, 0, result);
    pod->request = NULL;
}

static void
on_add_flows_installed(void *aux, int error)
{
    struct pod *pod = aux;
    char msg[128];
    snprintf(msg, sizeof msg, "installing flows on %s: %s",
             pod->agent->config.bridge, strerror(error));
    add_step_done(pod, error ? CNI_ERR_TRY_AGAIN : 0, msg);
}

static void
on_add_port_added(void *aux, int error, const char *msg)
{
    struct pod *pod = aux;
    if (!error) {
        pod->has_port = true;
    }
    add_step_done(pod, error ? CNI_ERR_TRY_AGAIN : 0, msg ? msg : "");
}

/* Picks the lowest OpenFlow port number from FIRST_POD_OFPORT on that no
 * interface has or asked for, and no pod holds. */
#define FIRST_POD_OFPORT 10
#define MAX_OFPORT 65279
static uint32_t
pick_ofport(const struct agent *agent)
{
    static uint8_t used[(MAX_OFPORT + 8) / 8];
    memset(used, 0, sizeof used);
    for (const struct ovsdb_row *row = ovsdb_client_next(agent->ovsdb,
                                                         OVSDB_INTERFACE,
                                                         NULL);
         row; row = ovsdb_client_next(agent->ovsdb, OVSDB_INTERFACE, row)) {
        int64_t n;
        if (ovsdb_row_get_int(row, "ofport", &n) && n > 0 && n <= MAX_OFPORT) {
            used[n / 8] |= 1 << (n % 8);
        }
        if (ovsdb_row_get_int(row, "ofport_request", &n) && n > 0
            && n <= MAX_OFPORT) {
            used[n / 8] |= 1 << (n % 8);
        }
    }
    for (const struct pod *pod = agent->pods; pod; pod = pod->next) {
        if (pod->ofport && pod->ofport <= MAX_OFPORT) {
            used[pod->ofport / 8] |= 1 << (pod->ofport % 8);
        }
    }
    for (uint32_t n = FIRST_POD_OFPORT; n <= MAX_OFPORT; n++) {
        if (!(used[n / 8] & (1 << (n % 8)))) {
            return n;
        }
    }
    return 0;
}

/* ovs-vswitchd gave the pod's interface another port number than the one
 * asked for (someone else asked for it first): restate its flows. */
void
pods_interface_changed(struct agent *agent, const struct ovsdb_row *row)
{
    const char *name = ovsdb_row_name(row);
    int64_t ofport;
    if (!name || !agent->ofctl || !ovsdb_row_get_int(row, "ofport", &ofport)
        || ofport <= 0) {
        return;
    }
    for (struct pod *pod = agent->pods; pod; pod = pod->next) {
        if (!strcmp(pod->host_ifname, name) && pod->has_flows
            && pod->ofport != ofport && pod->state != POD_DELETING) {
            char label[320];
            SLOG_WARN("pod %s: port %s got ofport %" PRId64 ", not %" PRIu32
                      "; restating its flows", pod_label(pod, label), name,
                      ofport, pod->ofport);
            egress_pod_detached(agent->egress, pod->ofport);
            pipeline_remove_pod_flows(agent->ofctl, pod->ofport);
            pod->ofport = ofport;
            if (!pod_add_flows(pod)) {
                ofctl_commit(agent->ofctl, NULL, NULL);
            }
            return;
        }
    }
}

static void
handle_add(struct agent *agent, struct cni_request *req,
           const struct cni_env *env, const json_t *config,
           const char *cni_version)
{
    struct pod *existing = pod_find(agent, env->containerid, env->ifname);
    if (existing) {
        if (existing->state == POD_READY) {
            /* A repeated ADD gets the same answer. */
            cni_request_reply(req, 0, pod_result(existing, cni_version));
        } else {
            cni_request_fail(req, cni_version, CNI_ERR_TRY_AGAIN,
                             "container %s interface %s: another operation "
                             "is in progress", env->containerid,
                             env->ifname);
        }
        return;
    }
    if (strlen(env->containerid) > IPAM_MAX_CONTAINER_ID) {
        /* It would not fit struct pod, whose copy would then name another
         * container. */
        cni_request_fail(req, cni_version, CNI_ERR_INVALID_ENV,
                         "CNI_CONTAINERID is longer than %d bytes",
                         IPAM_MAX_CONTAINER_ID);
        return;
    }

    struct pod *pod = pod_create(agent, env->containerid, env->ifname);
    if (!pod || !(pod->netns = strdup(env->netns))
        || !(pod->cni_version = strdup(cni_version))) {
        if (pod) {
            pod_free(pod);
        }
        cni_request_fail(req, cni_version, CNI_ERR_INTERNAL,
                         "out of memory");
        return;
    }
    pod->request = req;
    pod->state = POD_ADDING;
    if (!cni_parse_args(env->args, pod->pod_namespace,
                        sizeof pod->pod_namespace, pod->pod_name,
                        sizeof pod->pod_name)) {
        pod_reply_error(pod, CNI_ERR_INVALID_ENV, "malformed CNI_ARGS");
        pod_free(pod);
        return;
    }
    int code = cni_parse_labels(config, &pod->labels);
    if (code) {
        pod_reply_error(pod, code, code == CNI_ERR_INVALID_CONFIG
                                   ? "args.cni.labels must be a list of "
                                     "{key, value} strings"
                                   : "out of memory");
        pod_free(pod);
        return;
    }

    char err[256];
    int error = ipam_allocate(agent->ipam, pod->container_id, pod->ifname,
                              pod->pod_namespace, pod->pod_name, &pod->ip,
                              err, sizeof err);
    if (error) {
        pod_reply_error(pod, error == ENOSPC ? CNI_ERR_TRY_AGAIN
                                             : CNI_ERR_IO, "%s", err);
        pod_free(pod);
        return;
    }

    podif_host_ifname(pod->pod_namespace, pod->pod_name, pod->container_id,
                      pod->host_ifname);
    struct podif_spec spec = {
        .netns = pod->netns,
        .host_ifname = pod->host_ifname,
        .ifname = pod->ifname,
        .addr = pod->ip,
        .prefix_len = agent->pod_prefix_len,
        .gateway = agent->node.gateway_ip,
        .mtu = agent->config.mtu,
    };
    struct podif_result result;
    char *perr = NULL;
    error = podif_create(agent->podif, &spec, &result, &perr);
    if (error == EEXIST) {
        /* A veth left by an ADD that crashed half-way: replace it. */
        free(perr);
        perr = NULL;
        error = podif_delete(agent->podif, pod->host_ifname, &perr);
        if (!error) {
            error = podif_create(agent->podif, &spec, &result, &perr);
        }
    }
    if (error) {
        code = error == ENOENT ? CNI_ERR_UNKNOWN_CONTAINER : CNI_ERR_IO;
        pod_reply_error(pod, code, "%s", perr ? perr : strerror(error));
        free(perr);
        ipam_release(agent->ipam, pod->container_id, pod->ifname, NULL, err,
                     sizeof err);
        pod_free(pod);
        return;
    }
    memcpy(pod->mac, result.mac, sizeof pod->mac);

    char ip[INET_ADDRSTRLEN], mac[18];
    inet_ntop(AF_INET, &pod->ip, ip, sizeof ip);
    pipeline_format_mac(pod->mac, mac);
    const char *ids[] = {
        ID_CONTAINER, pod->container_id, ID_IFNAME, pod->ifname,
        ID_NAMESPACE, pod->pod_namespace, ID_NAME, pod->pod_name,
        ID_IP, ip, ID_MAC, mac, ID_NETNS, pod->netns,
        pod->labels ? ID_LABELS : NULL, pod->labels, NULL,
    };
    pod->ofport = pick_ofport(agent);
    struct ovsdb_port_spec port = {
        .name = pod->host_ifname,
        .external_ids = ids,
        .ofport_request = pod->ofport,
    };
    error = pod_add_flows(pod);
    if (error) {
        pod_add_failed(pod, CNI_ERR_INTERNAL, "building flows: %s",
                       strerror(error));
        return;
    }
    error = ovsdb_client_add_port(agent->ovsdb, agent->config.bridge, &port,
                                  on_add_port_added, pod);
    if (error) {
        pod_add_failed(pod, CNI_ERR_TRY_AGAIN, "adding port %s to %s: %s",
                       pod->host_ifname, agent->config.bridge,
                       strerror(error));
        return;
    }
    pod->add_pending = 2;
    ofctl_commit(agent->ofctl, on_add_flows_installed, pod);
}

static void
handle_del(struct agent *agent, struct cni_request *req,
           const struct cni_env *env, const char *cni_version)
{
    struct pod *pod = pod_find(agent, env->containerid, env->ifname);
    if (!pod && strlen(env->containerid) > IPAM_MAX_CONTAINER_ID) {
        /* ADD refuses such ids, so nothing can be attached under it. */
        cni_request_reply(req, 0, NULL);
        return;
    }
    if (!pod) {
        /* Unknown: release any address left behind and succeed. */
        char err[256];
        if (ipam_release(agent->ipam, env->containerid, env->ifname, NULL,
                         err, sizeof err)) {
            cni_request_fail(req, cni_version, CNI_ERR_IO, "%s", err);
            return;
        }
        cni_request_reply(req, 0, NULL);
        return;
    }
    if (pod->state != POD_READY) {
        cni_request_fail(req, cni_version, CNI_ERR_TRY_AGAIN,
                         "container %s interface %s: another operation is "
                         "in progress", env->containerid, env->ifname);
        return;
    }
    free(pod->cni_version);
    pod->cni_version = strdup(cni_version);
    pod->request = req;
    pod->state = POD_DELETING;
    pod_remove(pod);
}

static void
handle_check(struct agent *agent, struct cni_request *req,
             const struct cni_env *env, const json_t *config,
             const char *cni_version)
{
    struct pod *pod = pod_find(agent, env->containerid, env->ifname);
    if (!pod || pod->state != POD_READY) {
        cni_request_fail(req, cni_version, CNI_ERR_UNKNOWN_CONTAINER,
                         "container %s interface %s is not attached",
                         env->containerid, env->ifname);
        return;
    }
    char ip[INET_ADDRSTRLEN], cidr[32];
    inet_ntop(AF_INET, &pod->ip, ip, sizeof ip);
    snprintf(cidr, sizeof cidr, "%s/%u", ip, agent->pod_prefix_len);
    const json_t *prev = json_object_get(config, "prevResult");
    if (prev && !cni_prev_result_has_ip(prev, cidr)) {
        cni_request_fail(req, cni_version, CNI_ERR_INVALID_CONFIG,
                         "prevResult does not list the pod's address %s",
                         cidr);
        return;
    }

    struct podif_spec spec = {
        .netns = env->netns,
        .host_ifname = pod->host_ifname,
        .ifname = pod->ifname,
        .addr = pod->ip,
        .prefix_len = agent->pod_prefix_len,
        .gateway = agent->node.gateway_ip,
        .mtu = agent->config.mtu,
    };
    char *err = NULL;
    int error = podif_check(agent->podif, &spec, &err);
    if (error) {
        cni_request_fail(req, cni_version, CNI_ERR_IO, "%s",
                         err ? err : strerror(error));
        free(err);
        return;
    }
    const struct ovsdb_row *row = ovsdb_client_find_by_name(
        agent->ovsdb, OVSDB_INTERFACE, pod->host_ifname);
    int64_t ofport;
    if (!row || !ovsdb_row_get_int(row, "ofport", &ofport)
        || ofport != pod->ofport) {
        cni_request_fail(req, cni_version, CNI_ERR_IO,
                         "OVS port %s is missing from %s or has changed",
                         pod->host_ifname, agent->config.bridge);
        return;
    }
    if (ofctl_owner_n_flows(agent->ofctl,
                            ofctl_owner(OFCTL_FEATURE_POD, pod->ofport))
        == 0) {
        cni_request_fail(req, cni_version, CNI_ERR_IO,
                         "no flows for port %s", pod->host_ifname);
        return;
    }
    cni_request_reply(req, 0, NULL);
}

/* Releases every address that neither a pod in the table nor one of the
 * 'n_valid' attachments in 'valid' holds.  Returns 0 with the count in
 * '*n_released', or an errno value with a message in 'err'. */
static int
release_unheld_addresses(struct agent *agent,
                         const struct ipam_attachment *valid, size_t n_valid,
                         size_t *n_released, char *err, size_t err_size)
{
    struct ipam_attachment *keep = calloc(n_valid + agent->n_pods + 1,
                                          sizeof *keep);
    if (!keep) {
        snprintf(err, err_size, "out of memory");
        return ENOMEM;
    }
    if (n_valid) {
        memcpy(keep, valid, n_valid * sizeof *keep);
    }
    size_t n_keep = n_valid;
    for (struct pod *pod = agent->pods; pod; pod = pod->next) {
        keep[n_keep].container_id = pod->container_id;
        keep[n_keep].ifname = pod->ifname;
        n_keep++;
    }
    *n_released = 0;
    int error = ipam_gc(agent->ipam, keep, n_keep, NULL, NULL, n_released,
                        err, err_size);
    free(keep);
    return error;
}

static void
handle_gc(struct agent *agent, struct cni_request *req,
          const json_t *config, const char *cni_version)
{
    const json_t *valid = json_object_get(config,
                                          "cni.dev/valid-attachments");
    if (valid && !json_is_array(valid)) {
        cni_request_fail(req, cni_version, CNI_ERR_INVALID_CONFIG,
                         "cni.dev/valid-attachments must be a list");
        return;
    }
    size_t n_valid = json_array_size(valid);
    struct ipam_attachment *attachments = calloc(n_valid + 1,
                                                 sizeof *attachments);
    if (!attachments) {
        cni_request_fail(req, cni_version, CNI_ERR_INTERNAL,
                         "out of memory");
        return;
    }
    for (size_t i = 0; i < n_valid; i++) {
        const json_t *a = json_array_get(valid, i);
        attachments[i].container_id = json_string_value(
            json_object_get(a, "containerID"));
        attachments[i].ifname = json_string_value(json_object_get(a,
                                                                  "ifname"));
        if (!attachments[i].container_id || !attachments[i].ifname) {
            free(attachments);
            cni_request_fail(req, cni_version, CNI_ERR_INVALID_CONFIG,
                             "each valid attachment needs string "
                             "containerID and ifname");
            return;
        }
    }

    /* Detach attached pods that are not valid. */
    size_t n_removed = 0;
    for (struct pod *pod = agent->pods, *next; pod; pod = next) {
        next = pod->next;
        bool keep = pod->state != POD_READY;
        for (size_t i = 0; !keep && i < n_valid; i++) {
            keep = (!strcmp(attachments[i].container_id, pod->container_id)
                    && !strcmp(attachments[i].ifname, pod->ifname));
        }
        if (!keep) {
            char name[320];
            SLOG_INFO("pod %s: garbage-collected", pod_label(pod, name));
            pod->state = POD_DELETING;
            pod_remove(pod);
            n_removed++;
        }
    }

    /* Then addresses with no pod at all; those of pods being removed or
     * added are kept, since the pods still hold them. */
    char err[256];
    size_t n_released;
    int error = release_unheld_addresses(agent, attachments, n_valid,
                                         &n_released, err, sizeof err);
    free(attachments);
    if (error) {
        cni_request_fail(req, cni_version, CNI_ERR_IO, "%s", err);
        return;
    }
    SLOG_INFO("GC: %zu pods detached, %zu stray addresses released",
              n_removed, n_released);
    cni_request_reply(req, 0, NULL);
}

void
pods_handle_cni(void *agent_, struct cni_request *req,
                const struct cni_env *env, const char *config_text,
                size_t config_len)
{
    struct agent *agent = agent_;
    enum cni_command command = cni_command_from_string(env->command);
    char msg[512];
    int error = cni_check_env(command, env, msg, sizeof msg);
    if (error) {
        cni_request_fail(req, NULL, error, "%s", msg);
        return;
    }

    json_error_t jerror;
    json_t *config = json_loadb(config_text, config_len, 0, &jerror);
    if (!config) {
        cni_request_fail(req, NULL, CNI_ERR_DECODE,
                         "network configuration is not valid JSON: %s",
                         jerror.text);
        return;
    }
    error = cni_check_config(command, config, msg, sizeof msg);
    const char *cni_version = json_string_value(json_object_get(config,
                                                                "cniVersion"));
    if (error) {
        cni_request_fail(req, error == CNI_ERR_INCOMPATIBLE_VERSION
                              ? NULL : cni_version, error, "%s", msg);
        json_decref(config);
        return;
    }

    if (command == CNI_CMD_STATUS) {
        if (agent->ready) {
            cni_request_reply(req, 0, NULL);
        } else {
            cni_request_fail(req, cni_version, CNI_ERR_NOT_AVAILABLE,
                             "node %s is not ready: %s",
                             agent->config.node_name,
                             agent->not_ready_reason);
        }
    } else if (!agent->ready && command != CNI_CMD_CHECK) {
        cni_request_fail(req, cni_version, CNI_ERR_TRY_AGAIN,
                         "node %s is not ready: %s", agent->config.node_name,
                         agent->not_ready_reason);
    } else if (command == CNI_CMD_ADD) {
        handle_add(agent, req, env, config, cni_version);
    } else if (command == CNI_CMD_DEL) {
        handle_del(agent, req, env, cni_version);
    } else if (command == CNI_CMD_CHECK) {
        handle_check(agent, req, env, config, cni_version);
    } else if (command == CNI_CMD_GC) {
        handle_gc(agent, req, config, cni_version);
    } else {
        cni_request_fail(req, cni_version, CNI_ERR_INVALID_ENV,
                         "command %s is not handled by the agent",
                         cni_command_to_string(command));
    }
    json_decref(config);
}

/* Restart. */

static bool
parse_mac(const char *s, uint8_t mac[6])
{
    unsigned int b[6];
    if (!s || sscanf(s, "%2x:%2x:%2x:%2x:%2x:%2x", &b[0], &b[1], &b[2],
                     &b[3], &b[4], &b[5]) != 6) {
        return false;
    }
    for (int i = 0; i < 6; i++) {
        mac[i] = b[i];
    }
    return true;
}

static void
on_stray_port_deleted(void *aux, int error, const char *msg)
{
    (void) aux;
    if (error) {
        SLOG_WARN("%s", msg);
    }
}

int
pods_recover(struct agent *agent)
{
    size_t n_recovered = 0;
    for (const struct ovsdb_row *row = ovsdb_client_next(agent->ovsdb,
                                                         OVSDB_INTERFACE,
                                                         NULL);
         row; row = ovsdb_client_next(agent->ovsdb, OVSDB_INTERFACE, row)) {
        const char *cid = ovsdb_row_map_get(row, "external_ids",
                                            ID_CONTAINER);
        const char *ifname = ovsdb_row_map_get(row, "external_ids",
                                               ID_IFNAME);
        if (!cid || !ifname) {
            continue;
        }
        const char *port_name = ovsdb_row_name(row);
        const struct ipam_allocation *alloc = ipam_lookup(agent->ipam, cid,
                                                          ifname);
        int64_t ofport;
        struct pod *pod = NULL;
        if (alloc && ovsdb_row_get_int(row, "ofport", &ofport) && ofport > 0
            && !pod_find(agent, cid, ifname)
            && (pod = pod_create(agent, cid, ifname))) {
            pod->state = POD_READY;
            pod->ip = alloc->addr;
            pod->ofport = ofport;
            pod->has_port = true;
            snprintf(pod->host_ifname, sizeof pod->host_ifname, "%s",
                     port_name);
            const char *v;
            if ((v = ovsdb_row_map_get(row, "external_ids", ID_NAMESPACE))) {
                snprintf(pod->pod_namespace, sizeof pod->pod_namespace, "%s",
                         v);
            }
            if ((v = ovsdb_row_map_get(row, "external_ids", ID_NAME))) {
                snprintf(pod->pod_name, sizeof pod->pod_name, "%s", v);
            }
            if ((v = ovsdb_row_map_get(row, "external_ids", ID_NETNS))) {
                pod->netns = strdup(v);
            }
            if ((v = ovsdb_row_map_get(row, "external_ids", ID_LABELS))) {
                pod->labels = strdup(v);
            }
            if (!parse_mac(ovsdb_row_map_get(row, "external_ids", ID_MAC),
                           pod->mac)) {
                SLOG_WARN("port %s: bad %s; pod kept without a MAC",
                          port_name, ID_MAC);
            }
            n_recovered++;
            continue;
        }
        /* A port whose ADD never finished, or whose address is gone. */
        SLOG_WARN("port %s of container %.40s: %s; removing it", port_name,
                  cid, alloc ? "no ofport" : "no IPAM allocation");
        char *err = NULL;
        if (podif_delete(agent->podif, port_name, &err)) {
            SLOG_WARN("%s", err);
            free(err);
        }
        if (ovsdb_client_del_port(agent->ovsdb, port_name,
                                  on_stray_port_deleted, NULL)) {
            SLOG_WARN("cannot delete stray port %s", port_name);
        }
    }

    /* Addresses whose pod never got a port. */
    char err[256];
    size_t n_released;
    int error = release_unheld_addresses(agent, NULL, 0, &n_released, err,
                                         sizeof err);
    if (error) {
        SLOG_ERR("%s", err);
        return error;
    }
    SLOG_INFO("node %s: recovered %zu pods, released %zu stray addresses",
              agent->config.node_name, n_recovered, n_released);
    return 0;
}

int
pods_add_all_flows(struct agent *agent)
{
    for (struct pod *pod = agent->pods; pod; pod = pod->next) {
        if (pod->state == POD_READY) {
            int error = pod_add_flows(pod);
            if (error) {
                return error;
            }
        }
    }
    return 0;
}
