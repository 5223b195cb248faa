/* unicode_tables.h - code point classes used by the pre-tokenizer (llama.cpp's notion):
 * letter = L*, number = N*, punctuation = P*, whitespace = Unicode White_Space.
 * The range tables are generated (scripts/gen_unicode_tables.py -> unicode_tables.c). */
#ifndef UNICODE_TABLES_H
#define UNICODE_TABLES_H

#include <stddef.h>
#include <stdint.h>

typedef struct uni_range {
    uint32_t first, last;   /* inclusive */
} uni_range_t;

extern const uni_range_t uni_letter_ranges[];
extern const size_t      uni_letter_ranges_n;
extern const uni_range_t uni_number_ranges[];
extern const size_t      uni_number_ranges_n;
extern const uni_range_t uni_punct_ranges[];
extern const size_t      uni_punct_ranges_n;
extern const uni_range_t uni_space_ranges[];
extern const size_t      uni_space_ranges_n;

enum {
    UNI_LETTER = 1,
    UNI_NUMBER = 2,
    UNI_SPACE  = 4,
    UNI_PUNCT  = 8,
};

/* class bits of a code point (0 for anything else, including values above U+10FFFF) */
unsigned uni_class(uint32_t cp);

#endif /* UNICODE_TABLES_H */
