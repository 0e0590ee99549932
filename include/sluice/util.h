/*
 * Allocation helpers for agent code that, like Open vSwitch, treats
 * running out of memory as fatal rather than leaving state half-updated:
 * each logs and aborts instead of returning NULL.  (Named apart from OVS's
 * own xmalloc() family, which sluiced also links.)
 */
#ifndef SLUICE_UTIL_H
#define SLUICE_UTIL_H 1

#include <stdarg.h>
#include <stddef.h>

/* Logs "out of memory" and aborts. */
void abort_out_of_memory(void) __attribute__((noreturn));

void *nofail_malloc(size_t size);
void *nofail_calloc(size_t n, size_t size);
void *nofail_realloc(void *p, size_t size);
char *nofail_strdup(const char *s);
char *nofail_vasprintf(const char *fmt, va_list args)
    __attribute__((format(printf, 1, 0)));
char *nofail_asprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif /* sluice/util.h */
