#include <sluice-config.h>

#include "sluice/log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static enum slog_level max_level = SLOG_LEVEL_INFO;

static const char *const level_names[] = {
    [SLOG_LEVEL_ERR] = "ERR",
    [SLOG_LEVEL_WARN] = "WARN",
    [SLOG_LEVEL_INFO] = "INFO",
    [SLOG_LEVEL_DBG] = "DBG",
};

void
slog_set_level(enum slog_level level)
{
    max_level = level;
}

int
slog_level_from_string(const char *s, enum slog_level *level)
{
    static const struct {
        const char *name;
        enum slog_level level;
    } names[] = {
        {"err", SLOG_LEVEL_ERR},   {"error", SLOG_LEVEL_ERR},
        {"warn", SLOG_LEVEL_WARN}, {"info", SLOG_LEVEL_INFO},
        {"debug", SLOG_LEVEL_DBG}, {"dbg", SLOG_LEVEL_DBG},
    };

    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        if (!strcmp(s, names[i].name)) {
            *level = names[i].level;
            return 0;
        }
    }
    return EINVAL;
}

bool
slog_enabled(enum slog_level level)
{
    return level <= max_level;
}

void
slog_write(enum slog_level level, const char *module, const char *fmt, ...)
{
    if (!slog_enabled(level)) {
        return;
    }

    struct timespec now;
    struct tm tm;
    char stamp[32] = "";
    if (!clock_gettime(CLOCK_REALTIME, &now)
        && gmtime_r(&now.tv_sec, &tm)) {
        size_t n = strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &tm);
        snprintf(stamp + n, sizeof stamp - n, ".%03ldZ",
                 now.tv_nsec / 1000000);
    }

    /* One write per line so that lines of concurrent processes sharing a
     * log file do not interleave. */
    char line[1024];
    int n = snprintf(line, sizeof line, "%s|%s|%s|", stamp,
                     level_names[level], module);
    if (n < 0 || (size_t) n >= sizeof line) {
        return;
    }
    va_list args;
    va_start(args, fmt);
    int m = vsnprintf(line + n, sizeof line - n, fmt, args);
    va_end(args);
    size_t len;
    if (m < 0) {
        len = n;
    } else if ((size_t) m >= sizeof line - n - 1) {
        /* Long messages are cut, and marked as cut. */
        memcpy(line + sizeof line - 5, "...\n", 4);
        len = sizeof line - 1;
    } else {
        len = n + m;
        line[len++] = '\n';
    }
    fwrite(line, 1, len, stderr);
    fflush(stderr);
}
