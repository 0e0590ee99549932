/*
 * Levelled logging: one line per event on stderr,
 *     2026-11-23T10:40:00.123Z|INFO|ipam|pod default/web-1: allocated 10.1.0.5
 * Each source file names its module once with SLOG_MODULE(name).
 */
#ifndef SLUICE_LOG_H
#define SLUICE_LOG_H 1

#include <stdbool.h>

enum slog_level {
    SLOG_LEVEL_ERR,
    SLOG_LEVEL_WARN,
    SLOG_LEVEL_INFO,
    SLOG_LEVEL_DBG,
};

/* Declares the module name that the SLOG_* macros of this file print. */
#define SLOG_MODULE(NAME) static const char slog_module[] = #NAME

#define SLOG_ERR(...) slog_write(SLOG_LEVEL_ERR, slog_module, __VA_ARGS__)
#define SLOG_WARN(...) slog_write(SLOG_LEVEL_WARN, slog_module, __VA_ARGS__)
#define SLOG_INFO(...) slog_write(SLOG_LEVEL_INFO, slog_module, __VA_ARGS__)
#define SLOG_DBG(...)                                                      \
    do {                                                                   \
        if (slog_enabled(SLOG_LEVEL_DBG)) {                                \
            slog_write(SLOG_LEVEL_DBG, slog_module, __VA_ARGS__);          \
        }                                                                  \
    } while (0)

/* Sets the most verbose level that is printed (default INFO). */
void slog_set_level(enum slog_level);

/* Parses "err", "warn", "info" or "debug" into '*level'.  Returns 0 or
 * EINVAL. */
int slog_level_from_string(const char *, enum slog_level *level);

/* Returns true if messages at 'level' are printed. */
bool slog_enabled(enum slog_level level);

/* Prints one log line for 'module' at 'level'. */
void slog_write(enum slog_level level, const char *module, const char *fmt,
                ...) __attribute__((format(printf, 3, 4)));

#endif /* sluice/log.h */
