/* refhost_run.c - see refhost_run.h */
#include "refhost_run.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>

int refhost_run(char *out, size_t cap, const char *fmt, ...) {
    const char *bin = getenv("REFHOST");
    if (!bin || !*bin) {
        snprintf(out, cap, "REFHOST is not set (the tests' meson environment sets it)");
        return -2;
    }
    char args[4096], cmd[8192];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(args, sizeof args, fmt, ap);
    va_end(ap);
    snprintf(cmd, sizeof cmd, "%s %s 2>&1", bin, args);
    FILE *p = popen(cmd, "r");
    if (!p) {
        snprintf(out, cap, "cannot run %s", bin);
        return -2;
    }
    size_t n = fread(out, 1, cap - 1, p);
    out[n] = '\0';
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}
