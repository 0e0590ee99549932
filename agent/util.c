#include <sluice-config.h>

#include "sluice/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sluice/log.h"

SLOG_MODULE(util);

void
abort_out_of_memory(void)
{
    SLOG_ERR("out of memory");
    abort();
}

void *
nofail_malloc(size_t size)
{
    void *p = malloc(size ? size : 1);
    if (!p) {
        abort_out_of_memory();
    }
    return p;
}

void *
nofail_calloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p) {
        abort_out_of_memory();
    }
    return p;
}

void *
nofail_realloc(void *p, size_t size)
{
    p = realloc(p, size ? size : 1);
    if (!p) {
        abort_out_of_memory();
    }
    return p;
}

char *
nofail_strdup(const char *s)
{
    char *p = strdup(s);
    if (!p) {
        abort_out_of_memory();
    }
    return p;
}

char *
nofail_vasprintf(const char *fmt, va_list args)
{
    char *s;
    if (vasprintf(&s, fmt, args) < 0) {
        abort_out_of_memory();
    }
    return s;
}

char *
nofail_asprintf(const char *fmt, ...)
{
    va_list args;
    va_start(args, fmt);
    char *s = nofail_vasprintf(fmt, args);
    va_end(args);
    return s;
}
