/* refhost_run.h - runs the refhost executable ($REFHOST, set by the test's meson env) from a
 * test and captures what it prints. */
#ifndef REFHOST_RUN_H
#define REFHOST_RUN_H

#include <stddef.h>

/* Runs "$REFHOST <args>" with args formatted from fmt (a shell fragment); stdout and stderr go to
 * out (NUL-terminated, truncated to cap - 1). Returns the exit code, -1 if it did not exit
 * normally, -2 if REFHOST is unset or the command could not start (the reason is in out). */
int refhost_run(char *out, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif
