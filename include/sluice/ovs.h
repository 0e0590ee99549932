/*
 * Including libopenvswitch headers.  The cached libopenvswitch.a has its
 * json_* functions renamed to ovs_json_* (deploy/build-ovs.sh) because
 * jansson exports the same names; this header maps OVS's declarations to
 * the renamed symbols.  Include it before any <openvswitch/...> header and
 * never in a file that includes <jansson.h>.
 */
#ifndef SLUICE_OVS_H
#define SLUICE_OVS_H 1

#ifdef JANSSON_H
#error "jansson.h and openvswitch headers cannot share a translation unit"
#endif

#define json_array ovs_json_array
#define json_equal ovs_json_equal
#define json_integer ovs_json_integer
#define json_object ovs_json_object
#define json_real ovs_json_real
#define json_string ovs_json_string

/* Prepares libopenvswitch for use inside a libuv program: its vlog
 * messages about long poll intervals do not apply, since OVS's poll loop is
 * not used.  Idempotent. */
void sluice_ovs_init(void);

#endif /* sluice/ovs.h */
