#include <sluice-config.h>

#include "sluice/podif.h"

#include <arpa/inet.h>
#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <sched.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <unistd.h>

#include <linux/ethtool.h>
#include <linux/netlink.h>
#include <linux/nsfs.h>
#include <linux/rtnetlink.h>
#include <linux/sockios.h>

#include <netlink/attr.h>
#include <netlink/errno.h>
#include <netlink/netlink.h>
#include <netlink/route/addr.h>
#include <netlink/route/link.h>
#include <netlink/route/link/veth.h>
#include <netlink/route/route.h>
#include <netlink/socket.h>

#include "sluice/log.h"

SLOG_MODULE(podif);

/* The kernel's answer to the last request on a netlink socket, captured by
 * nl_error_cb() because libnl folds errno values into its own coarser
 * NLE_* codes (ENETUNREACH and many others become NLE_FAILURE). */
struct nl_errinfo {
    int error;     /* Positive errno of the last NLMSG_ERROR, or 0. */
    char msg[256]; /* Its extended-ack message, or "". */
};

/* A NETLINK_ROUTE socket together with its error capture. */
struct podif_nl {
    struct nl_sock *sock;  /* Bound to the netns it was opened in. */
    struct nl_errinfo *ei; /* Written by nl_error_cb() for 'sock'. */
};

struct podif_ctx {
    struct nl_sock *sock; /* NETLINK_ROUTE socket in the host netns. */
    struct nl_errinfo ei; /* Kernel errors seen on 'sock'. */
    int host_netns_fd;    /* The host netns, to return to. */
    dev_t host_netns_dev; /* Identity of the host netns, so that it is */
    ino_t host_netns_ino; /* never mistaken for a pod netns. */
};

/* One operation inside a pod netns: the argument of podif_in_netns()'s
 * callbacks. */
struct podif_nsop {
    struct podif_ctx *ctx;         /* Context (for the host netns fd). */
    const struct podif_spec *spec; /* For create and check, else NULL. */
    const char *netns;             /* Pod netns path, for messages. */
    const char *ifname;            /* Pod-side interface name. */
    struct podif_result *result;   /* Filled in by create, else NULL. */
    char **errp;                   /* Where to put an error message. */
};

/* Stores in '*errp' (if nonnull) "CONTEXT: strerror(error)", followed by
 * " (DETAIL)" if 'detail' is nonempty, where CONTEXT is formatted from
 * 'fmt'.  Returns 'error'. */
static int podif_error(char **errp, int error, const char *detail,
                       const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int
podif_error(char **errp, int error, const char *detail, const char *fmt, ...)
{
    char *context = NULL;
    va_list args;

    if (!errp) {
        return error;
    }
    *errp = NULL;

    va_start(args, fmt);
    if (vasprintf(&context, fmt, args) < 0) {
        context = NULL;
    }
    va_end(args);
    if (!context) {
        return error;
    }

    if (asprintf(errp, "%s: %s%s%s%s", context, strerror(error),
                 detail && *detail ? " (" : "", detail ? detail : "",
                 detail && *detail ? ")" : "")
        < 0) {
        *errp = NULL;
    }
    free(context);
    return error;
}

/* Like podif_error() but for a message that is complete as formatted. */
static int podif_problem(char **errp, int error, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int
podif_problem(char **errp, int error, const char *fmt, ...)
{
    va_list args;

    if (!errp) {
        return error;
    }
    va_start(args, fmt);
    if (vasprintf(errp, fmt, args) < 0) {
        *errp = NULL;
    }
    va_end(args);
    return error;
}

/* Returns the errno value that best describes libnl error 'nlerr'. */
static int
nlerr_to_errno(int nlerr)
{
    switch (abs(nlerr)) {
    case 0:
        return 0;
    case NLE_INTR:
        return EINTR;
    case NLE_BAD_SOCK:
        return EBADF;
    case NLE_AGAIN:
        return EAGAIN;
    case NLE_NOMEM:
        return ENOMEM;
    case NLE_EXIST:
        return EEXIST;
    case NLE_INVAL:
        return EINVAL;
    case NLE_RANGE:
        return ERANGE;
    case NLE_MSGSIZE:
        return EMSGSIZE;
    case NLE_OPNOTSUPP:
        return EOPNOTSUPP;
    case NLE_AF_NOSUPPORT:
        return EAFNOSUPPORT;
    case NLE_OBJ_NOTFOUND:
        return ENOENT;
    case NLE_NOADDR:
        return EADDRNOTAVAIL;
    case NLE_NOACCESS:
        return EACCES;
    case NLE_PERM:
        return EPERM;
    case NLE_BUSY:
        return EBUSY;
    case NLE_NODEV:
        return ENODEV;
    case NLE_PROTO_MISMATCH:
        return EPROTONOSUPPORT;
    default:
        return EPROTO;
    }
}

/* Records the kernel's error for the request that failed on a socket. */
static int
nl_error_cb(struct sockaddr_nl *nla, struct nlmsgerr *e, void *ei_)
{
    const struct nlmsghdr *h
        = (const struct nlmsghdr *)((char *)e - NLMSG_HDRLEN);
    struct nl_errinfo *ei = ei_;

    (void)nla;
    ei->error = -e->error;
    ei->msg[0] = '\0';

    /* libnl hands us nlmsg_data() of the error message, so its header
     * precedes 'e'.  Extended-ack attributes follow the echoed request. */
    if (h->nlmsg_flags & NLM_F_ACK_TLVS) {
        size_t total = h->nlmsg_len - NLMSG_HDRLEN;
        size_t off = sizeof *e;
        const struct nlattr *msg;

        if (!(h->nlmsg_flags & NLM_F_CAPPED)
            && e->msg.nlmsg_len >= NLMSG_HDRLEN) {
            off += e->msg.nlmsg_len - NLMSG_HDRLEN;
        }
        off = NLMSG_ALIGN(off);
        if (off < total) {
            msg = nla_find((const struct nlattr *)((const char *)e + off),
                           total - off, NLMSGERR_ATTR_MSG);
            if (msg && nla_len(msg) > 0) {
                const char *s = nla_data(msg);
                int len = strnlen(s, nla_len(msg));
                int n = snprintf(ei->msg, sizeof ei->msg, "%.*s", len, s);

                if (n >= (int)sizeof ei->msg) {
                    /* Mark the cut rather than hide it. */
                    memcpy(&ei->msg[sizeof ei->msg - 4], "...", 4);
                }
            }
        }
    }
    return NL_STOP;
}

/* Opens a NETLINK_ROUTE socket in the calling thread's current netns whose
 * kernel errors are recorded in 'ei'.  Returns 0 or a positive errno. */
static int
podif_nl_open(struct nl_errinfo *ei, struct nl_sock **sockp)
{
    struct nl_sock *sock;
    int one = 1;
    int err;

    *sockp = NULL;
    sock = nl_socket_alloc();
    if (!sock) {
        return ENOMEM;
    }
    err = nl_connect(sock, NETLINK_ROUTE);
    if (err < 0) {
        nl_socket_free(sock);
        return nlerr_to_errno(err);
    }

    /* Extended acks give error text such as "Nexthop has invalid
     * gateway"; capped acks spare copying the request back.  Both are
     * optional niceties, so a kernel without them is fine. */
    if (setsockopt(nl_socket_get_fd(sock), SOL_NETLINK, NETLINK_EXT_ACK, &one,
                   sizeof one)
        && errno != ENOPROTOOPT) {
        SLOG_DBG("NETLINK_EXT_ACK: %s", strerror(errno));
    }
    if (setsockopt(nl_socket_get_fd(sock), SOL_NETLINK, NETLINK_CAP_ACK, &one,
                   sizeof one)
        && errno != ENOPROTOOPT) {
        SLOG_DBG("NETLINK_CAP_ACK: %s", strerror(errno));
    }

    err = nl_socket_modify_err_cb(sock, NL_CB_CUSTOM, nl_error_cb, ei);
    if (err < 0) {
        nl_socket_free(sock);
        return nlerr_to_errno(err);
    }
    *sockp = sock;
    return 0;
}

/* Returns the errno for libnl result 'nlerr' of a request whose kernel
 * errors land in 'ei'. */
static int
nl_errno(const struct nl_errinfo *ei, int nlerr)
{
    return ei->error > 0 ? ei->error : nlerr_to_errno(nlerr);
}

static void
nl_errinfo_clear(struct nl_errinfo *ei)
{
    ei->error = 0;
    ei->msg[0] = '\0';
}

/* Returns true if 'name' is a name the kernel accepts for an interface
 * (see dev_valid_name() in the kernel). */
static bool
ifname_is_valid(const char *name)
{
    size_t len = name ? strnlen(name, IFNAMSIZ) : 0;

    if (len == 0 || len >= IFNAMSIZ || !strcmp(name, ".")
        || !strcmp(name, "..")) {
        return false;
    }
    for (const char *p = name; *p; p++) {
        if (*p == '/' || *p == ':' || isspace((unsigned char)*p)) {
            return false;
        }
    }
    return true;
}

int
podif_ctx_create(struct podif_ctx **ctxp)
{
    struct podif_ctx *ctx;
    struct stat st;
    int error;

    *ctxp = NULL;
    ctx = calloc(1, sizeof *ctx);
    if (!ctx) {
        return ENOMEM;
    }

    ctx->host_netns_fd
        = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
    if (ctx->host_netns_fd < 0) {
        error = errno;
        SLOG_ERR("open /proc/thread-self/ns/net: %s", strerror(error));
        free(ctx);
        return error;
    }
    if (fstat(ctx->host_netns_fd, &st)) {
        error = errno;
        SLOG_ERR("stat /proc/thread-self/ns/net: %s", strerror(error));
        goto error;
    }
    ctx->host_netns_dev = st.st_dev;
    ctx->host_netns_ino = st.st_ino;

    error = podif_nl_open(&ctx->ei, &ctx->sock);
    if (error) {
        SLOG_ERR("open rtnetlink socket: %s", strerror(error));
        goto error;
    }
    *ctxp = ctx;
    return 0;

error:
    close(ctx->host_netns_fd);
    free(ctx);
    return error;
}

void
podif_ctx_destroy(struct podif_ctx *ctx)
{
    if (ctx) {
        nl_socket_free(ctx->sock);
        close(ctx->host_netns_fd);
        free(ctx);
    }
}

/* Opens pod netns 'path' into '*fdp'.  Returns 0; ENOENT if 'path' does
 * not exist or is not a network namespace (e.g. a stale bind-mount
 * target); EINVAL if it is the host's own netns; or another errno. */
static int
netns_open(const struct podif_ctx *ctx, const char *path, int *fdp,
           char **errp)
{
    struct stat st;
    int error;
    int fd;

    *fdp = -1;
    if (!path || !*path) {
        return podif_problem(errp, EINVAL, "pod netns path is empty");
    }
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return podif_error(errp, errno, NULL, "pod netns %s: open", path);
    }
    if (ioctl(fd, NS_GET_NSTYPE) != CLONE_NEWNET) {
        close(fd);
        return podif_problem(errp, ENOENT,
                             "pod netns %s: not a network namespace", path);
    }
    if (fstat(fd, &st)) {
        error = errno;
        close(fd);
        return podif_error(errp, error, NULL, "pod netns %s: stat", path);
    }
    if (st.st_dev == ctx->host_netns_dev && st.st_ino == ctx->host_netns_ino) {
        close(fd);
        return podif_problem(
            errp, EINVAL, "pod netns %s: is the host network namespace", path);
    }
    *fdp = fd;
    return 0;
}

/* Runs 'fn' inside the pod netns 'nsfd' (named 'op->netns' in messages)
 * with a NETLINK_ROUTE socket opened there, and returns to the host netns
 * whatever happens.  Returns 0 or a positive errno. */
static int
podif_in_netns(struct podif_nsop *op, int nsfd,
               int (*fn)(struct podif_nsop *, struct podif_nl *))
{
    struct nl_errinfo ei = {0};
    struct podif_nl nl = {.ei = &ei};
    int error;

    if (setns(nsfd, CLONE_NEWNET)) {
        return podif_error(op->errp, errno, NULL, "pod netns %s: enter",
                           op->netns);
    }

    error = podif_nl_open(&ei, &nl.sock);
    if (error) {
        podif_error(op->errp, error, NULL,
                    "pod netns %s: open rtnetlink socket", op->netns);
    } else {
        error = fn(op, &nl);
        nl_socket_free(nl.sock);
    }

    if (setns(op->ctx->host_netns_fd, CLONE_NEWNET)) {
        /* Carrying on in a pod's netns would plumb the next pods into the
         * wrong place; there is no sane way forward. */
        SLOG_ERR("pod netns %s: return to host netns: %s", op->netns,
                 strerror(errno));
        abort();
    }
    return error;
}

/* Turns TX checksum offload off on 'ifname', using 'fd' (any socket in the
 * interface's netns: the SIOCETHTOOL ioctl is handled for every socket
 * family, as ethtool(8) itself relies on).  Returns 0 or an errno. */
static int
txcsum_off(int fd, const char *ifname)
{
    struct ethtool_value ev = {.cmd = ETHTOOL_STXCSUM, .data = 0};
    struct ifreq ifr;

    memset(&ifr, 0, sizeof ifr);
    memcpy(ifr.ifr_name, ifname, strlen(ifname) + 1);
    ifr.ifr_data = (void *)&ev;
    return ioctl(fd, SIOCETHTOOL, &ifr) ? errno : 0;
}

/* Writes 'value' to /proc/sys/net/FAMILY/conf/IFNAME/KEY.  Returns 0 or an
 * errno value. */
static int
write_conf(const char *family, const char *ifname, const char *key,
           const char *value)
{
    char path[128];
    snprintf(path, sizeof path, "/proc/sys/net/%s/conf/%s/%s", family,
             ifname, key);
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0) {
        return errno;
    }
    size_t len = strlen(value);
    int error = write(fd, value, len) == (ssize_t) len ? 0 : errno;
    close(fd);
    return error;
}

/* OVS reads the host end of a pod's veth with a packet socket, but the
 * node's kernel sees the same frames: keep it out of the pod's traffic so
 * that nothing bypasses SpoofGuard.  Strict reverse-path filtering drops
 * IP from the pod (its address routes via the gateway port, not the veth),
 * arp_ignore=8 never answers ARP there, and IPv6 is off so the host end
 * sends nothing that reveals its MAC. */
static int
host_end_isolate(const char *ifname, char **errp, const char *netns)
{
    static const struct {
        const char *family, *key, *value;
    } settings[] = {
        {"ipv4", "rp_filter", "1"},
        {"ipv4", "arp_ignore", "8"},
        {"ipv6", "disable_ipv6", "1"},
    };
    for (size_t i = 0; i < sizeof settings / sizeof settings[0]; i++) {
        int error = write_conf(settings[i].family, ifname, settings[i].key,
                               settings[i].value);
        if (error && !(error == ENOENT && !strcmp(settings[i].family,
                                                  "ipv6"))) {
            return podif_error(errp, error, NULL,
                               "pod netns %s: set %s/%s on host interface "
                               "%s", netns, settings[i].family,
                               settings[i].key, ifname);
        }
    }
    return 0;
}

/* Builds an nl_addr for IPv4 address 'a' with prefix 'plen' into '*addrp'.
 * Returns 0 or ENOMEM. */
static int
ipv4_nl_addr(struct in_addr a, int plen, struct nl_addr **addrp)
{
    *addrp = nl_addr_build(AF_INET, &a, sizeof a);
    if (!*addrp) {
        return ENOMEM;
    }
    nl_addr_set_prefixlen(*addrp, plen);
    return 0;
}

static uint32_t
prefix_mask(int plen)
{
    return plen ? htonl(~(uint32_t)0 << (32 - plen)) : 0;
}

/* Inside the pod netns: configures 'op->ifname' (which has its MTU) with
 * TX checksum off, brings it up, adds the address and the default route,
 * and fills in the MAC of 'op->result'. */
static int
pod_configure(struct podif_nsop *op, struct podif_nl *nl)
{
    const struct podif_spec *spec = op->spec;
    struct rtnl_link *link = NULL, *changes = NULL;
    struct rtnl_addr *ra = NULL;
    struct rtnl_route *route = NULL;
    struct nl_addr *local = NULL, *bcast = NULL, *dst = NULL, *gw = NULL;
    struct rtnl_nexthop *nh;
    struct nl_addr *lladdr;
    char addr_s[INET_ADDRSTRLEN], gw_s[INET_ADDRSTRLEN];
    int ifindex;
    int error;
    int err;

    inet_ntop(AF_INET, &spec->addr, addr_s, sizeof addr_s);
    inet_ntop(AF_INET, &spec->gateway, gw_s, sizeof gw_s);

    nl_errinfo_clear(nl->ei);
    err = rtnl_link_get_kernel(nl->sock, 0, op->ifname, &link);
    if (err < 0) {
        error = podif_error(op->errp, nl_errno(nl->ei, err), NULL,
                            "pod netns %s: look up %s", op->netns, op->ifname);
        goto out;
    }
    ifindex = rtnl_link_get_ifindex(link);
    lladdr = rtnl_link_get_addr(link);
    if (!lladdr || nl_addr_get_len(lladdr) != sizeof op->result->mac) {
        error = podif_problem(op->errp, EPROTO,
                              "pod netns %s: %s has no Ethernet address",
                              op->netns, op->ifname);
        goto out;
    }
    memcpy(op->result->mac, nl_addr_get_binary_addr(lladdr),
           sizeof op->result->mac);

    error = txcsum_off(nl_socket_get_fd(nl->sock), op->ifname);
    if (error) {
        podif_error(op->errp, error, NULL,
                    "pod netns %s: turn off TX checksum offload on %s",
                    op->netns, op->ifname);
        goto out;
    }

    changes = rtnl_link_alloc();
    if (!changes) {
        error = podif_error(op->errp, ENOMEM, NULL, "pod netns %s", op->netns);
        goto out;
    }
    rtnl_link_set_flags(changes, IFF_UP);
    nl_errinfo_clear(nl->ei);
    err = rtnl_link_change(nl->sock, link, changes, 0);
    if (err < 0) {
        error
            = podif_error(op->errp, nl_errno(nl->ei, err), nl->ei->msg,
                          "pod netns %s: bring up %s", op->netns, op->ifname);
        goto out;
    }

    /* Address, with a broadcast address as "ip addr add ... brd +" would
     * give (none for /31 and /32). */
    ra = rtnl_addr_alloc();
    if (!ra || (error = ipv4_nl_addr(spec->addr, spec->prefix_len, &local))) {
        error = podif_error(op->errp, ENOMEM, NULL, "pod netns %s", op->netns);
        goto out;
    }
    rtnl_addr_set_ifindex(ra, ifindex);
    rtnl_addr_set_family(ra, AF_INET);
    if ((err = rtnl_addr_set_local(ra, local)) < 0) {
        error = podif_error(op->errp, nlerr_to_errno(err), NULL,
                            "pod netns %s: address %s/%u", op->netns, addr_s,
                            spec->prefix_len);
        goto out;
    }
    if (spec->prefix_len < 31) {
        struct in_addr b
            = {spec->addr.s_addr | ~prefix_mask(spec->prefix_len)};

        if ((error = ipv4_nl_addr(b, 32, &bcast))) {
            podif_error(op->errp, error, NULL, "pod netns %s", op->netns);
            goto out;
        }
        rtnl_addr_set_broadcast(ra, bcast);
    }
    nl_errinfo_clear(nl->ei);
    err = rtnl_addr_add(nl->sock, ra, NLM_F_EXCL);
    if (err < 0) {
        error = podif_error(op->errp, nl_errno(nl->ei, err), nl->ei->msg,
                            "pod netns %s: add address %s/%u to %s", op->netns,
                            addr_s, spec->prefix_len, op->ifname);
        goto out;
    }

    /* Default route. */
    if (spec->gateway.s_addr != htonl(INADDR_ANY)) {
        struct in_addr any = {htonl(INADDR_ANY)};
        uint32_t mask = prefix_mask(spec->prefix_len);

        route = rtnl_route_alloc();
        nh = rtnl_route_nh_alloc();
        if (!route || !nh || ipv4_nl_addr(any, 0, &dst)
            || ipv4_nl_addr(spec->gateway, 32, &gw)) {
            if (nh) {
                rtnl_route_nh_free(nh);
            }
            error = podif_error(op->errp, ENOMEM, NULL, "pod netns %s",
                                op->netns);
            goto out;
        }
        rtnl_route_nh_set_ifindex(nh, ifindex);
        rtnl_route_nh_set_gateway(nh, gw);
        if ((spec->gateway.s_addr & mask) != (spec->addr.s_addr & mask)) {
            rtnl_route_nh_set_flags(nh, RTNH_F_ONLINK);
        }
        rtnl_route_add_nexthop(route, nh);
        rtnl_route_set_family(route, AF_INET);
        rtnl_route_set_table(route, RT_TABLE_MAIN);
        rtnl_route_set_protocol(route, RTPROT_BOOT);
        rtnl_route_set_scope(route, RT_SCOPE_UNIVERSE);
        rtnl_route_set_type(route, RTN_UNICAST);
        if ((err = rtnl_route_set_dst(route, dst)) < 0) {
            error = podif_error(op->errp, nlerr_to_errno(err), NULL,
                                "pod netns %s: default route", op->netns);
            goto out;
        }

        nl_errinfo_clear(nl->ei);
        err = rtnl_route_add(nl->sock, route, NLM_F_EXCL);
        if (err < 0) {
            error = podif_error(op->errp, nl_errno(nl->ei, err), nl->ei->msg,
                                "pod netns %s: add default route via %s "
                                "dev %s",
                                op->netns, gw_s, op->ifname);
            goto out;
        }
    }
    error = 0;

out:
    rtnl_route_put(route);
    rtnl_addr_put(ra);
    nl_addr_put(gw);
    nl_addr_put(dst);
    nl_addr_put(bcast);
    nl_addr_put(local);
    rtnl_link_put(changes);
    rtnl_link_put(link);
    return error;
}

/* Deletes host interface 'name' after checking that it is a veth.  Returns
 * 0 if it was deleted or did not exist, otherwise a positive errno with a
 * message in '*errp'. */
static int
host_veth_delete(struct podif_ctx *ctx, const char *name, char **errp)
{
    struct rtnl_link *link = NULL;
    const char *type;
    int error = 0;
    int err;

    nl_errinfo_clear(&ctx->ei);
    err = rtnl_link_get_kernel(ctx->sock, 0, name, &link);
    if (err < 0) {
        error = nl_errno(&ctx->ei, err);
        if (error == ENODEV || error == ENOENT) {
            SLOG_DBG("host interface %s: already gone", name);
            return 0;
        }
        return podif_error(errp, error, NULL, "host interface %s: look up",
                           name);
    }

    type = rtnl_link_get_type(link);
    if (!type || strcmp(type, "veth")) {
        error = podif_problem(errp, EINVAL,
                              "host interface %s: is a %s, not a veth; "
                              "not deleting it",
                              name, type ? type : "device of unknown type");
        goto out;
    }

    /* Delete by ifindex, so that a rename since the lookup cannot make us
     * delete something else. */
    nl_errinfo_clear(&ctx->ei);
    err = rtnl_link_delete(ctx->sock, link);
    if (err < 0) {
        error = nl_errno(&ctx->ei, err);
        if (error == ENODEV) {
            error = 0;
        } else {
            podif_error(errp, error, ctx->ei.msg, "host interface %s: delete",
                        name);
        }
    }

out:
    rtnl_link_put(link);
    return error;
}

/* Validates 'spec' for podif_create() and podif_check(). */
static int
spec_validate(const struct podif_spec *spec, char **errp)
{
    const char *netns = spec->netns ? spec->netns : "(null)";

    if (!spec->netns || !*spec->netns) {
        return podif_problem(errp, EINVAL, "pod netns path is empty");
    }
    if (!ifname_is_valid(spec->host_ifname)) {
        return podif_problem(errp, EINVAL,
                             "pod netns %s: invalid host interface name "
                             "\"%s\" (1 to %d characters, no '/', ':' or "
                             "spaces)",
                             netns, spec->host_ifname ? spec->host_ifname : "",
                             IFNAMSIZ - 1);
    }
    if (!ifname_is_valid(spec->ifname)) {
        return podif_problem(errp, EINVAL,
                             "pod netns %s: invalid interface name \"%s\" "
                             "(1 to %d characters, no '/', ':' or spaces)",
                             netns, spec->ifname ? spec->ifname : "",
                             IFNAMSIZ - 1);
    }
    if (spec->prefix_len < 1 || spec->prefix_len > 32) {
        return podif_problem(errp, EINVAL,
                             "pod netns %s: invalid prefix length %u", netns,
                             spec->prefix_len);
    }
    if (spec->addr.s_addr == htonl(INADDR_ANY)) {
        return podif_problem(errp, EINVAL, "pod netns %s: no address", netns);
    }
    if (spec->mtu < 68 || spec->mtu > 65535) {
        return podif_problem(errp, EINVAL,
                             "pod netns %s: invalid MTU %u (68 to 65535)",
                             netns, spec->mtu);
    }
    return 0;
}

/* Creates the veth pair, the pod end directly in pod netns 'nsfd'. */
static int
veth_create(struct podif_ctx *ctx, const struct podif_spec *spec, int nsfd,
            char **errp)
{
    struct rtnl_link *link, *peer;
    struct rtnl_link *existing = NULL;
    int error;
    int err;

    link = rtnl_link_veth_alloc();
    if (!link) {
        return podif_error(errp, ENOMEM, NULL, "pod netns %s", spec->netns);
    }
    rtnl_link_set_name(link, spec->host_ifname);
    rtnl_link_set_mtu(link, spec->mtu);
    rtnl_link_set_flags(link, IFF_UP);

    peer = rtnl_link_veth_get_peer(link);
    rtnl_link_set_name(peer, spec->ifname);
    rtnl_link_set_mtu(peer, spec->mtu);
    /* The peer cannot be created up (the kernel opens it before its own
     * peer, the host end, exists: ENOTCONN), so pod_configure() brings it
     * up. */
    rtnl_link_set_ns_fd(peer, nsfd);
    rtnl_link_put(peer);

    nl_errinfo_clear(&ctx->ei);
    err = rtnl_link_add(ctx->sock, link, NLM_F_CREATE | NLM_F_EXCL);
    rtnl_link_veth_release(link);
    if (err >= 0) {
        return 0;
    }

    error = nl_errno(&ctx->ei, err);
    if (error == EEXIST) {
        /* Say which end is in the way. */
        nl_errinfo_clear(&ctx->ei);
        bool host_exists
            = rtnl_link_get_kernel(ctx->sock, 0, spec->host_ifname, &existing)
              >= 0;
        rtnl_link_put(existing);
        return podif_problem(
            errp, EEXIST,
            "pod netns %s: create veth pair %s <-> %s: %s "
            "(%s already exists%s)",
            spec->netns, spec->host_ifname, spec->ifname, strerror(EEXIST),
            host_exists ? spec->host_ifname : spec->ifname,
            host_exists ? " in the host netns" : " in the pod netns");
    }
    return podif_error(errp, error, ctx->ei.msg,
                       "pod netns %s: create veth pair %s <-> %s", spec->netns,
                       spec->host_ifname, spec->ifname);
}

int
podif_create(struct podif_ctx *ctx, const struct podif_spec *spec,
             struct podif_result *result, char **errp)
{
    struct podif_nsop op = {
        .ctx = ctx,
        .spec = spec,
        .netns = spec->netns,
        .ifname = spec->ifname,
        .result = result,
        .errp = errp,
    };
    struct rtnl_link *host = NULL;
    char *rollback_err = NULL;
    int nsfd = -1;
    int error;
    int err;

    if (errp) {
        *errp = NULL;
    }
    memset(result, 0, sizeof *result);
    error = spec_validate(spec, errp);
    if (error) {
        return error;
    }
    error = netns_open(ctx, spec->netns, &nsfd, errp);
    if (error) {
        return error;
    }

    error = veth_create(ctx, spec, nsfd, errp);
    if (error) {
        goto out;
    }

    /* From here on, failure must delete the pair. */
    error = txcsum_off(nl_socket_get_fd(ctx->sock), spec->host_ifname);
    if (error) {
        podif_error(errp, error, NULL,
                    "pod netns %s: turn off TX checksum offload on host "
                    "interface %s",
                    spec->netns, spec->host_ifname);
        goto rollback;
    }
    error = host_end_isolate(spec->host_ifname, errp, spec->netns);
    if (error) {
        goto rollback;
    }
    nl_errinfo_clear(&ctx->ei);
    err = rtnl_link_get_kernel(ctx->sock, 0, spec->host_ifname, &host);
    if (err < 0) {
        error = podif_error(errp, nl_errno(&ctx->ei, err), NULL,
                            "pod netns %s: look up host interface %s",
                            spec->netns, spec->host_ifname);
        goto rollback;
    }
    result->host_ifindex = rtnl_link_get_ifindex(host);
    rtnl_link_put(host);

    error = podif_in_netns(&op, nsfd, pod_configure);
    if (error) {
        goto rollback;
    }
    SLOG_DBG("pod netns %s: created %s <-> %s", spec->netns, spec->host_ifname,
             spec->ifname);
    goto out;

rollback:
    if (host_veth_delete(ctx, spec->host_ifname, &rollback_err)) {
        SLOG_ERR("%s (while undoing a failed setup)",
                 rollback_err ? rollback_err : spec->host_ifname);
        free(rollback_err);
    }
    memset(result, 0, sizeof *result);

out:
    close(nsfd);
    return error;
}

int
podif_delete(struct podif_ctx *ctx, const char *host_ifname, char **errp)
{
    if (errp) {
        *errp = NULL;
    }
    if (!ifname_is_valid(host_ifname)) {
        return podif_problem(errp, EINVAL,
                             "invalid host interface name \"%s\"",
                             host_ifname ? host_ifname : "");
    }
    return host_veth_delete(ctx, host_ifname, errp);
}

/* Inside the pod netns: deletes 'op->ifname' if it exists. */
static int
pod_delete(struct podif_nsop *op, struct podif_nl *nl)
{
    struct rtnl_link *link;
    int error;
    int err;

    link = rtnl_link_alloc();
    if (!link) {
        return podif_error(op->errp, ENOMEM, NULL, "pod netns %s", op->netns);
    }
    rtnl_link_set_name(link, op->ifname);
    nl_errinfo_clear(nl->ei);
    err = rtnl_link_delete(nl->sock, link);
    rtnl_link_put(link);
    if (err >= 0) {
        return 0;
    }
    error = nl_errno(nl->ei, err);
    if (error == ENODEV) {
        SLOG_DBG("pod netns %s: %s already gone", op->netns, op->ifname);
        return 0;
    }
    return podif_error(op->errp, error, nl->ei->msg, "pod netns %s: delete %s",
                       op->netns, op->ifname);
}

int
podif_delete_in_netns(struct podif_ctx *ctx, const char *netns,
                      const char *ifname, char **errp)
{
    struct podif_nsop op = {
        .ctx = ctx,
        .netns = netns,
        .ifname = ifname,
        .errp = errp,
    };
    int nsfd;
    int error;

    if (errp) {
        *errp = NULL;
    }
    if (!ifname_is_valid(ifname)) {
        return podif_problem(errp, EINVAL,
                             "pod netns %s: invalid interface name \"%s\"",
                             netns ? netns : "", ifname ? ifname : "");
    }
    error = netns_open(ctx, netns, &nsfd, errp);
    if (error == ENOENT) {
        SLOG_DBG("pod netns %s: gone, nothing to delete", netns ? netns : "");
        if (errp) {
            free(*errp);
            *errp = NULL;
        }
        return 0;
    } else if (error) {
        return error;
    }
    error = podif_in_netns(&op, nsfd, pod_delete);
    close(nsfd);
    return error;
}

/* Inside the pod netns: checks interface, address and default route. */
static int
pod_check(struct podif_nsop *op, struct podif_nl *nl)
{
    const struct podif_spec *spec = op->spec;
    struct nl_cache *addrs = NULL, *routes = NULL;
    struct rtnl_link *link = NULL;
    char want_s[INET_ADDRSTRLEN], gw_s[INET_ADDRSTRLEN];
    char other[INET_ADDRSTRLEN + 4] = "";
    bool found;
    int ifindex;
    int error;
    int err;

    inet_ntop(AF_INET, &spec->addr, want_s, sizeof want_s);
    inet_ntop(AF_INET, &spec->gateway, gw_s, sizeof gw_s);

    nl_errinfo_clear(nl->ei);
    err = rtnl_link_get_kernel(nl->sock, 0, op->ifname, &link);
    if (err < 0) {
        error = nl_errno(nl->ei, err);
        if (error == ENODEV) {
            return podif_problem(op->errp, ENOENT,
                                 "pod netns %s: interface %s not found",
                                 op->netns, op->ifname);
        }
        return podif_error(op->errp, error, NULL, "pod netns %s: look up %s",
                           op->netns, op->ifname);
    }
    ifindex = rtnl_link_get_ifindex(link);
    if (!(rtnl_link_get_flags(link) & IFF_UP)) {
        error = podif_problem(op->errp, EINVAL,
                              "pod netns %s: interface %s is down", op->netns,
                              op->ifname);
        goto out;
    }

    nl_errinfo_clear(nl->ei);
    err = rtnl_addr_alloc_cache(nl->sock, &addrs);
    if (err < 0) {
        error = podif_error(op->errp, nl_errno(nl->ei, err), NULL,
                            "pod netns %s: list addresses", op->netns);
        goto out;
    }
    found = false;
    for (struct nl_object *o = nl_cache_get_first(addrs); o && !found;
         o = nl_cache_get_next(o)) {
        struct rtnl_addr *a = (struct rtnl_addr *)o;
        struct nl_addr *local = rtnl_addr_get_local(a);

        if (rtnl_addr_get_family(a) != AF_INET
            || rtnl_addr_get_ifindex(a) != ifindex || !local
            || nl_addr_get_len(local) != sizeof spec->addr) {
            continue;
        }
        if (!memcmp(nl_addr_get_binary_addr(local), &spec->addr,
                    sizeof spec->addr)
            && rtnl_addr_get_prefixlen(a) == spec->prefix_len) {
            found = true;
        } else if (!other[0]) {
            char s[INET_ADDRSTRLEN];

            inet_ntop(AF_INET, nl_addr_get_binary_addr(local), s, sizeof s);
            /* Fits: "255.255.255.255/32" is 18 characters. */
            if (snprintf(other, sizeof other, "%s/%d", s,
                         rtnl_addr_get_prefixlen(a))
                >= (int)sizeof other) {
                other[0] = '\0';
            }
        }
    }
    if (!found) {
        error = podif_problem(op->errp, ENOENT,
                              "pod netns %s: %s does not have address "
                              "%s/%u%s%s%s",
                              op->netns, op->ifname, want_s, spec->prefix_len,
                              other[0] ? " (it has " : "", other,
                              other[0] ? ")" : "");
        goto out;
    }

    if (spec->gateway.s_addr != htonl(INADDR_ANY)) {
        nl_errinfo_clear(nl->ei);
        err = rtnl_route_alloc_cache(nl->sock, AF_INET, 0, &routes);
        if (err < 0) {
            error = podif_error(op->errp, nl_errno(nl->ei, err), NULL,
                                "pod netns %s: list routes", op->netns);
            goto out;
        }
        found = false;
        for (struct nl_object *o = nl_cache_get_first(routes); o && !found;
             o = nl_cache_get_next(o)) {
            struct rtnl_route *r = (struct rtnl_route *)o;
            struct nl_addr *dst = rtnl_route_get_dst(r);

            if (rtnl_route_get_table(r) != RT_TABLE_MAIN
                || rtnl_route_get_type(r) != RTN_UNICAST
                || (dst && nl_addr_get_prefixlen(dst) != 0)) {
                continue;
            }
            for (int i = 0; i < rtnl_route_get_nnexthops(r) && !found; i++) {
                struct rtnl_nexthop *nh = rtnl_route_nexthop_n(r, i);
                struct nl_addr *gw = rtnl_route_nh_get_gateway(nh);

                found = (rtnl_route_nh_get_ifindex(nh) == ifindex && gw
                         && nl_addr_get_len(gw) == sizeof spec->gateway
                         && !memcmp(nl_addr_get_binary_addr(gw),
                                    &spec->gateway, sizeof spec->gateway));
            }
        }
        if (!found) {
            error = podif_problem(op->errp, ENOENT,
                                  "pod netns %s: no default route via %s "
                                  "dev %s",
                                  op->netns, gw_s, op->ifname);
            goto out;
        }
    }
    error = 0;

out:
    nl_cache_free(routes);
    nl_cache_free(addrs);
    rtnl_link_put(link);
    return error;
}

int
podif_check(struct podif_ctx *ctx, const struct podif_spec *spec, char **errp)
{
    struct podif_nsop op = {
        .ctx = ctx,
        .spec = spec,
        .netns = spec->netns,
        .ifname = spec->ifname,
        .errp = errp,
    };
    struct rtnl_link *host = NULL;
    const char *type;
    int nsfd;
    int error;
    int err;

    if (errp) {
        *errp = NULL;
    }
    error = spec_validate(spec, errp);
    if (error) {
        return error;
    }

    nl_errinfo_clear(&ctx->ei);
    err = rtnl_link_get_kernel(ctx->sock, 0, spec->host_ifname, &host);
    if (err < 0) {
        error = nl_errno(&ctx->ei, err);
        if (error == ENODEV) {
            return podif_problem(errp, ENOENT,
                                 "pod netns %s: host interface %s not found",
                                 spec->netns, spec->host_ifname);
        }
        return podif_error(errp, error, NULL,
                           "pod netns %s: look up host interface %s",
                           spec->netns, spec->host_ifname);
    }
    type = rtnl_link_get_type(host);
    if (!type || strcmp(type, "veth")) {
        rtnl_link_put(host);
        return podif_problem(errp, EINVAL,
                             "pod netns %s: host interface %s is not a veth",
                             spec->netns, spec->host_ifname);
    }
    rtnl_link_put(host);

    error = netns_open(ctx, spec->netns, &nsfd, errp);
    if (error) {
        return error;
    }
    error = podif_in_netns(&op, nsfd, pod_check);
    close(nsfd);
    return error;
}

void
podif_host_ifname(const char *pod_namespace, const char *pod_name,
                  const char *container_id, char name[IFNAMSIZ])
{
    const char *inputs[] = {pod_namespace, pod_name, container_id};
    uint64_t hash = UINT64_C(0xcbf29ce484222325); /* FNV-1a offset basis. */
    char prefix[7];
    size_t n = 0;
    int len;

    /* FNV-1a over the inputs, each with its terminating NUL so that
     * ("ab", "c") and ("a", "bc") differ. */
    for (size_t i = 0; i < sizeof inputs / sizeof inputs[0]; i++) {
        const char *p = inputs[i];

        do {
            hash ^= (unsigned char)*p;
            hash *= UINT64_C(0x100000001b3);
        } while (*p++);
    }

    /* The pod name reduced to [a-z0-9-], without leading or trailing
     * dashes (a leading one would read as an option to ip(8)). */
    for (const char *p = pod_name; *p && n < sizeof prefix - 1; p++) {
        unsigned char c = tolower((unsigned char)*p);

        if (!isalnum(c) || c > 127) {
            c = '-';
        }
        if (c != '-' || n > 0) {
            prefix[n++] = c;
        }
    }
    while (n > 0 && prefix[n - 1] == '-') {
        n--;
    }
    prefix[n] = '\0';

    /* At most 6 + 1 + 8 = 15 characters. */
    len = snprintf(name, IFNAMSIZ, "%s-%08" PRIx32, n ? prefix : "pod",
                   (uint32_t)(hash ^ (hash >> 32)));
    assert(len > 0 && len < IFNAMSIZ);
    (void)len;
}

int
podif_configure_host_link(struct podif_ctx *ctx, const char *name,
                          struct in_addr addr, uint8_t prefix_len,
                          uint32_t mtu, char **errp)
{
    struct rtnl_link *link = NULL, *changes = NULL;
    struct rtnl_addr *ra = NULL;
    struct nl_addr *local = NULL;
    char addr_s[INET_ADDRSTRLEN];
    int error, err;

    inet_ntop(AF_INET, &addr, addr_s, sizeof addr_s);
    if (!ifname_is_valid(name) || prefix_len < 1 || prefix_len > 32
        || mtu < 68 || mtu > 65535) {
        return podif_problem(errp, EINVAL, "host link %s: invalid settings",
                             name ? name : "(null)");
    }

    nl_errinfo_clear(&ctx->ei);
    err = rtnl_link_get_kernel(ctx->sock, 0, name, &link);
    if (err < 0) {
        error = podif_error(errp, nl_errno(&ctx->ei, err), NULL,
                            "host link %s: look up", name);
        goto out;
    }
    error = txcsum_off(nl_socket_get_fd(ctx->sock), name);
    if (error) {
        podif_error(errp, error, NULL,
                    "host link %s: turn off TX checksum offload", name);
        goto out;
    }

    changes = rtnl_link_alloc();
    if (!changes) {
        error = podif_error(errp, ENOMEM, NULL, "host link %s", name);
        goto out;
    }
    rtnl_link_set_flags(changes, IFF_UP);
    rtnl_link_set_mtu(changes, mtu);
    nl_errinfo_clear(&ctx->ei);
    err = rtnl_link_change(ctx->sock, link, changes, 0);
    if (err < 0) {
        error = podif_error(errp, nl_errno(&ctx->ei, err), ctx->ei.msg,
                            "host link %s: set MTU %u and bring up", name,
                            mtu);
        goto out;
    }

    /* NLM_F_REPLACE makes this idempotent across agent restarts. */
    ra = rtnl_addr_alloc();
    if (!ra || (error = ipv4_nl_addr(addr, prefix_len, &local))) {
        error = podif_error(errp, ENOMEM, NULL, "host link %s", name);
        goto out;
    }
    rtnl_addr_set_ifindex(ra, rtnl_link_get_ifindex(link));
    rtnl_addr_set_family(ra, AF_INET);
    if ((err = rtnl_addr_set_local(ra, local)) < 0) {
        error = podif_error(errp, nlerr_to_errno(err), NULL,
                            "host link %s: address %s/%u", name, addr_s,
                            prefix_len);
        goto out;
    }
    nl_errinfo_clear(&ctx->ei);
    err = rtnl_addr_add(ctx->sock, ra, NLM_F_REPLACE);
    if (err < 0) {
        error = podif_error(errp, nl_errno(&ctx->ei, err), ctx->ei.msg,
                            "host link %s: add address %s/%u", name, addr_s,
                            prefix_len);
        goto out;
    }
    error = 0;

out:
    rtnl_addr_put(ra);
    nl_addr_put(local);
    rtnl_link_put(changes);
    rtnl_link_put(link);
    return error;
}

int
podif_host_route(struct podif_ctx *ctx, bool add, struct in_addr dst,
                 const char *dev, char **errp)
{
    struct rtnl_link *link = NULL;
    struct rtnl_route *route = NULL;
    struct nl_addr *dst_addr = NULL;
    char dst_s[INET_ADDRSTRLEN];
    int error, err;

    inet_ntop(AF_INET, &dst, dst_s, sizeof dst_s);
    nl_errinfo_clear(&ctx->ei);
    err = rtnl_link_get_kernel(ctx->sock, 0, dev, &link);
    if (err < 0) {
        error = podif_error(errp, nl_errno(&ctx->ei, err), NULL,
                            "route %s/32: look up %s", dst_s, dev);
        goto out;
    }
    struct rtnl_nexthop *nh = rtnl_route_nh_alloc();
    route = rtnl_route_alloc();
    if (!route || !nh || ipv4_nl_addr(dst, 32, &dst_addr)) {
        if (nh) {
            rtnl_route_nh_free(nh);
        }
        error = podif_error(errp, ENOMEM, NULL, "route %s/32", dst_s);
        goto out;
    }
    rtnl_route_nh_set_ifindex(nh, rtnl_link_get_ifindex(link));
    rtnl_route_add_nexthop(route, nh);
    rtnl_route_set_family(route, AF_INET);
    rtnl_route_set_table(route, RT_TABLE_MAIN);
    rtnl_route_set_protocol(route, RTPROT_STATIC);
    rtnl_route_set_scope(route, RT_SCOPE_LINK);
    rtnl_route_set_type(route, RTN_UNICAST);
    rtnl_route_set_dst(route, dst_addr);

    nl_errinfo_clear(&ctx->ei);
    err = (add ? rtnl_route_add(ctx->sock, route, NLM_F_REPLACE)
               : rtnl_route_delete(ctx->sock, route, 0));
    error = err < 0 ? nl_errno(&ctx->ei, err) : 0;
    if (!add && error == ESRCH) {
        error = 0;  /* Already gone. */
    }
    if (error) {
        podif_error(errp, error, ctx->ei.msg, "%s route %s/32 dev %s",
                    add ? "add" : "delete", dst_s, dev);
    }

out:
    rtnl_route_put(route);
    nl_addr_put(dst_addr);
    rtnl_link_put(link);
    return error;
}

int
podif_send_garp(const char *dev, struct in_addr ip, char **errp)
{
    char ip_s[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, &ip, ip_s, sizeof ip_s);

    int fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, htons(ETH_P_ARP));
    if (fd < 0) {
        return podif_error(errp, errno, NULL, "gratuitous ARP for %s", ip_s);
    }
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    snprintf(ifr.ifr_name, sizeof ifr.ifr_name, "%s", dev);
    int error = 0;
    if (ioctl(fd, SIOCGIFINDEX, &ifr)) {
        error = podif_error(errp, errno, NULL,
                            "gratuitous ARP for %s: interface %s", ip_s, dev);
        goto out;
    }
    int ifindex = ifr.ifr_ifindex;
    if (ioctl(fd, SIOCGIFHWADDR, &ifr)) {
        error = podif_error(errp, errno, NULL,
                            "gratuitous ARP for %s: MAC of %s", ip_s, dev);
        goto out;
    }

    /* An ARP request whose sender and target are both 'ip': every host on
     * the segment updates its entry for 'ip' (and switches learn where the
     * MAC now is). */
    uint8_t frame[42];
    memset(frame, 0xff, 6);
    memcpy(frame + 6, ifr.ifr_hwaddr.sa_data, 6);
    frame[12] = 0x08;
    frame[13] = 0x06;
    static const uint8_t arp_header[8] = {0, 1, 8, 0, 6, 4, 0, 1};
    memcpy(frame + 14, arp_header, 8);
    memcpy(frame + 22, ifr.ifr_hwaddr.sa_data, 6);
    memcpy(frame + 28, &ip.s_addr, 4);
    memset(frame + 32, 0, 6);
    memcpy(frame + 38, &ip.s_addr, 4);

    struct sockaddr_ll sll = {
        .sll_family = AF_PACKET,
        .sll_protocol = htons(ETH_P_ARP),
        .sll_ifindex = ifindex,
        .sll_halen = 6,
    };
    memset(sll.sll_addr, 0xff, 6);
    if (sendto(fd, frame, sizeof frame, 0, (struct sockaddr *) &sll,
               sizeof sll) != (ssize_t) sizeof frame) {
        error = podif_error(errp, errno, NULL,
                            "gratuitous ARP for %s on %s", ip_s, dev);
    }

out:
    close(fd);
    return error;
}

int
podif_flush_host_routes(struct podif_ctx *ctx, const char *dev, char **errp)
{
    struct rtnl_link *link = NULL;
    struct nl_cache *cache = NULL;
    int error = 0, err;

    nl_errinfo_clear(&ctx->ei);
    err = rtnl_link_get_kernel(ctx->sock, 0, dev, &link);
    if (err < 0) {
        return podif_error(errp, nl_errno(&ctx->ei, err), NULL,
                           "host routes via %s: look up", dev);
    }
    int ifindex = rtnl_link_get_ifindex(link);
    rtnl_link_put(link);

    err = rtnl_route_alloc_cache(ctx->sock, AF_INET, 0, &cache);
    if (err < 0) {
        return podif_error(errp, nlerr_to_errno(err), NULL,
                           "host routes via %s: list", dev);
    }
    for (struct nl_object *obj = nl_cache_get_first(cache); obj;
         obj = nl_cache_get_next(obj)) {
        struct rtnl_route *route = (struct rtnl_route *) obj;
        struct nl_addr *dst = rtnl_route_get_dst(route);
        if (rtnl_route_get_table(route) != RT_TABLE_MAIN
            || rtnl_route_get_protocol(route) != RTPROT_STATIC
            || rtnl_route_get_nnexthops(route) != 1
            || rtnl_route_nh_get_ifindex(rtnl_route_nexthop_n(route, 0))
                   != ifindex
            || !dst || nl_addr_get_prefixlen(dst) != 32) {
            continue;
        }
        nl_errinfo_clear(&ctx->ei);
        err = rtnl_route_delete(ctx->sock, route, 0);
        if (err < 0 && !error) {
            error = podif_error(errp, nl_errno(&ctx->ei, err), ctx->ei.msg,
                                "host routes via %s: delete", dev);
        }
    }
    nl_cache_free(cache);
    return error;
}
