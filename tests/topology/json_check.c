/* SPDX-License-Identifier: MIT */
/*
 * json_check.c — exits 0 when stdin is exactly one JSON value (RFC 8259, with
 * whitespace around it), else prints where it stops being JSON and exits 1. The
 * tests pipe `halo-topo --json` through it: CI images need no python for this.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *jc_text;
static size_t jc_pos;

static int jc_value(int depth);

static void jc_ws(void)
{
    while (strchr(" \t\r\n", jc_text[jc_pos]) && jc_text[jc_pos])
        jc_pos++;
}

static int jc_lit(const char *w)
{
    size_t n = strlen(w);
    if (strncmp(jc_text + jc_pos, w, n) != 0)
        return -1;
    jc_pos += n;
    return 0;
}

static int jc_string(void)
{
    if (jc_text[jc_pos++] != '"')
        return -1;
    for (;;) {
        unsigned char c = (unsigned char)jc_text[jc_pos++];
        if (c == '"')
            return 0;
        if (c < 0x20)
            return -1; /* also the end of the text */
        if (c != '\\')
            continue;
        c = (unsigned char)jc_text[jc_pos++];
        if (c == 'u') {
            for (int i = 0; i < 4; i++)
                if (!strchr("0123456789abcdefABCDEF", jc_text[jc_pos++]) || !jc_text[jc_pos - 1])
                    return -1;
        } else if (!c || !strchr("\"\\/bfnrt", c)) {
            return -1;
        }
    }
}

static size_t jc_digits(void)
{
    size_t n = 0;
    while (jc_text[jc_pos] >= '0' && jc_text[jc_pos] <= '9')
        jc_pos++, n++;
    return n;
}

static int jc_number(void)
{
    if (jc_text[jc_pos] == '-')
        jc_pos++;
    if (jc_text[jc_pos] == '0')
        jc_pos++;
    else if (jc_digits() == 0)
        return -1;
    if (jc_text[jc_pos] == '.' && (jc_pos++, jc_digits() == 0))
        return -1;
    if (jc_text[jc_pos] == 'e' || jc_text[jc_pos] == 'E') {
        jc_pos++;
        if (jc_text[jc_pos] == '+' || jc_text[jc_pos] == '-')
            jc_pos++;
        if (jc_digits() == 0)
            return -1;
    }
    return 0;
}

/* Members of an object (keyed) or elements of an array, after the opening bracket. */
static int jc_list(char close, int keyed, int depth)
{
    jc_ws();
    if (jc_text[jc_pos] == close)
        return jc_pos++, 0;
    for (;;) {
        jc_ws();
        if (keyed) {
            if (jc_string() != 0)
                return -1;
            jc_ws();
            if (jc_text[jc_pos++] != ':')
                return -1;
        }
        if (jc_value(depth + 1) != 0)
            return -1;
        jc_ws();
        char c = jc_text[jc_pos++];
        if (c == close)
            return 0;
        if (c != ',')
            return -1;
    }
}

static int jc_value(int depth)
{
    if (depth > 64)
        return -1;
    jc_ws();
    switch (jc_text[jc_pos]) {
    case '{': jc_pos++; return jc_list('}', 1, depth);
    case '[': jc_pos++; return jc_list(']', 0, depth);
    case '"': return jc_string();
    case 't': return jc_lit("true");
    case 'f': return jc_lit("false");
    case 'n': return jc_lit("null");
    default: return jc_number();
    }
}

int main(void)
{
    size_t cap = 1 << 16, len = 0, n;
    char *buf = malloc(cap);

    while (buf && (n = fread(buf + len, 1, cap - len - 1, stdin)) > 0)
        if ((len += n) == cap - 1)
            buf = realloc(buf, cap *= 2);
    if (!buf)
        return 1;
    buf[len] = '\0';
    jc_text = buf;
    if (strlen(buf) != len || jc_value(0) != 0 || (jc_ws(), jc_pos != len)) {
        fprintf(stderr, "json_check: not one JSON value: stops at byte %zu of %zu: %.40s\n", jc_pos, len,
                jc_pos <= len ? buf + (jc_pos ? jc_pos - 1 : 0) : "");
        return 1;
    }
    free(buf);
    return 0;
}
