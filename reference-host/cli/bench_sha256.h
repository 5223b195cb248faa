/* bench_sha256.h - SHA-256 (FIPS 180-4) to check prompt files against the MANIFEST. */
#ifndef BENCH_SHA256_H
#define BENCH_SHA256_H

#include <stddef.h>
#include <stdint.h>

/* hex receives 64 lowercase hex digits and a NUL. */
void bench_sha256_hex(const void *data, size_t len, char hex[65]);

#endif
