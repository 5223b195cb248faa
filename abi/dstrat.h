/* dstrat.h - the decoding-strategy plugin ABI, version 1.0.
 *
 * ============================================================================ TUTORIAL
 *
 * A *decoding strategy* decides, for speculative decoding, which token tree to draft, when to stop
 * drafting, and which drafted tokens to accept. It lives in a shared object that a *host* loads
 * with dlopen(RTLD_NOW | RTLD_LOCAL). The host owns the models, both KV caches, batching, the
 * tokenizer and the target's sampler chain; the strategy only ever sees token ids,
 * distributions, limits and timings.
 *
 * A plugin exports exactly one symbol, dstrat_entry_v1 (the ABI major is in the name, so an
 * incompatible plugin is simply "symbol not found"). A host:
 *
 *   1. fn = dlsym(so, "dstrat_entry_v1"); e = fn(&host_version);   NULL = cannot serve this host
 *   2. check e->abi_version.major == DSTRAT_ABI_MAJOR (any minor), e->init(path)
 *   3. discovery (no side effects): e->strategy_count(), e->strategy_desc(i) with typed
 *      parameter descriptors, so a host can validate a YAML config before creating anything
 *   4. e->strategy_create(id, host, params, ...) -> dstrat_strategy_t *s
 *   5. s->session_create(...) per sequence; s->session_reset(prompt tokens)
 *   6. per cycle: s->propose (which calls host->draft_forward as often as it likes),
 *      host verifies the tree with one target forward, s->accept, host commits, then
 *      s->observe (host-measured times of this cycle)
 *   7. s->session_destroy, s->destroy, e->deinit, dlclose
 *
 * ============================================================================ CYCLE CONTRACT
 *
 * Per sequence the committed tokens are c[0..n). The target KV cache holds c[0..n-1): the last
 * committed token c[n-1] is the *root* (node 0) of the next tree and its KV is produced by the
 * verify forward. The root sits at absolute position root_pos = n - 1; a node at depth d (edges
 * from the root) sits at root_pos + d, and the token *sampled after* node i is the token at
 * absolute position root_pos + depth(i) + 1.
 *
 *   propose  (plugin) builds a tree per sequence: a parent array in topological order
 *            (parent[0] = DSTRAT_PARENT_NONE, 0 <= parent[i] < i), node 0 = root.
 *   verify   (host)   one target forward over all nodes, each attending to the committed cache
 *            and its own ancestors; target[i] = next-token distribution after path(0..i), after
 *            the host's sampler chain (temperature, top-k, top-p).
 *   accept   (plugin) picks path = [0, i1, ..., i_m] (each a child of the previous) and
 *            next_token, the token that follows the path (the new root).
 *   commit   (host)   keeps the KV rows of the path nodes only; the committed sequence gains
 *            tokens[path[1..]] and next_token. The host brings the draft model up to date lazily
 *            before the next propose. If the host commits anything else (EOS cut, length cap),
 *            it calls session_reset with the real committed sequence.
 *
 * Lossless sampling and reproducibility. Acceptance under sampling uses a counter-based RNG
 * keyed by (rng_seed, absolute position of the token being chosen), never shared mutable state.
 * The reference walk (greedy or sampling) samples the target distribution of the current node
 * with the uniform for the next position and follows the child carrying that token, stopping when
 * no child does. Its output is exactly the target's distribution, and it is bit-identical to plain
 * autoregressive sampling with the same seed whenever the host's numerics are batch-invariant.
 * The keyed uniform is defined in this header (dstrat_keyed_u01) so every plugin and host agree.
 *
 * ============================================================================ RULES
 *
 *  - Every struct that crosses the boundary starts with uint32_t struct_size = sizeof as built by
 *    the side that filled it. Fields are append-only (tagged "since 1.N"); zero means default. A
 *    reader checks that a field is present with DSTRAT_HAS before reading it, so an older host works
 *    with a newer plugin and the reverse.
 *  - Fixed-width integers, float, double and pointers only: no enum, bool, bitfield or long.
 *    No struct has tail padding (explicit reserved fields fill it), so a
 *    field appended later can never hide inside an older side's sizeof.
 *  - Arrays of boundary structs: dstrat_param_desc_t arrays are strided by their elements'
 *    struct_size (hosts step by params[0].struct_size). The element types of every other array
 *    (dstrat_dist_t, dstrat_draft_req_t, dstrat_draft_out_t, and the pointer arrays of
 *    propose/accept) are frozen for major 1: they grow only through new parallel fields.
 *  - Status codes are int32: 0 ok, negative error, positive non-error outcome. Text for the last
 *    failed call on a strategy is available from last_error(). No function exits, aborts, throws or
 *    longjmps across the boundary; a plugin never prints (it may call host->log).
 *  - No pointer crosses the boundary for the other side to free. Who allocates and frees, and how
 *    long a borrowed pointer lives, is stated at every field.
 *
 * Thread classes (tagged on every function):
 *   [discovery] thread-safe, cheap, no side effects (no weights, no files beyond the .so itself).
 *   [instance]  serialized per strategy instance by the host.
 *   [step]      serialized per strategy instance; different instances may run concurrently.
 *   [callback]  a host function; the plugin calls it only synchronously, from inside one of its own
 *               [step] calls, on the calling thread.
 *
 * Memory ownership summary:
 *   dstrat_entry_t, dstrat_strategy_desc_t, dstrat_param_desc_t   plugin, static, until deinit
 *   dstrat_strategy_t, dstrat_session_t                            plugin, until destroy
 *   dstrat_host_t and what it points to                            host, until the strategy is destroyed
 *   dstrat_param_t arrays and strings                              host, during strategy_create only
 *   dstrat_tree_t arrays, dstrat_accept_t.path                     host-allocated, plugin-filled
 *   dstrat_draft_req_t arrays                                      plugin, during draft_forward only
 *   dstrat_draft_out_t contents                                    host, until the next draft_forward
 *                                                                  for that sequence or propose returns
 *   dstrat_verify_t contents                                       host, during accept only
 *   dstrat_cycle_stats_t                                           host, during observe only
 *   last_error() text                                              plugin, until the next call on it
 *
 * Changelog: abi/CHANGELOG.md.
 */
#ifndef DSTRAT_H
#define DSTRAT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ============================================================================ linkage */
#if defined(_WIN32)
#define DSTRAT_EXPORT __declspec(dllexport)
#define DSTRAT_CALL __cdecl
#else
#define DSTRAT_EXPORT __attribute__((visibility("default")))
#define DSTRAT_CALL
#endif

/* ============================================================================ versions */
#define DSTRAT_ABI_MAJOR 1 /* incompatible change: new entry symbol dstrat_entry_v<major> */
#define DSTRAT_ABI_MINOR 0 /* append-only fields, new extension ids */
#define DSTRAT_ABI_PATCH 0 /* no interface change */

typedef struct dstrat_version {
    uint32_t major;
    uint32_t minor;
    uint32_t patch;
} dstrat_version_t;

#define DSTRAT_VERSION_INIT { DSTRAT_ABI_MAJOR, DSTRAT_ABI_MINOR, DSTRAT_ABI_PATCH }

/* Host rule: accept the same major and any minor. */
#define DSTRAT_VERSION_COMPATIBLE(v) ((v).major == DSTRAT_ABI_MAJOR)

/* 1 if the struct behind p (filled by the other side, which set struct_size) contains field. */
#define DSTRAT_HAS(p, T, field) \
    ((p)->struct_size >= offsetof(T, field) + sizeof(((T *) 0)->field))

/* ============================================================================ status */
typedef int32_t dstrat_status_t; /* 0 ok, < 0 error, > 0 non-error outcome */

#define DSTRAT_OK 0
#define DSTRAT_EMPTY 1           /* propose: no draft for this sequence (tree = root only) */
#define DSTRAT_E_GENERIC -1
#define DSTRAT_E_INVALID_ARG -2  /* NULL or out-of-range argument, bad parameter value, unknown key */
#define DSTRAT_E_UNSUPPORTED -3  /* a required host capability is missing */
#define DSTRAT_E_NOMEM -4
#define DSTRAT_E_CAPACITY -5     /* output does not fit the host-provided buffer */
#define DSTRAT_E_STATE -6        /* call out of order (e.g. accept without propose) */
#define DSTRAT_E_HOST -7         /* a host callback failed; the plugin passes it up */
#define DSTRAT_E_ABORTED -8      /* the host asked to stop */
#define DSTRAT_E_VERSION -9      /* incompatible ABI version */
#define DSTRAT_E_IO -10          /* e.g. a policy file could not be read or is corrupt */
#define DSTRAT_E_NOT_FOUND -11   /* no strategy with that id */

/* ============================================================================ basic types */
typedef int32_t dstrat_token_t; /* target-vocabulary id */
typedef struct dstrat_session dstrat_session_t;   /* opaque, plugin-owned, one per sequence */
typedef struct dstrat_strategy dstrat_strategy_t; /* a strategy instance */
typedef struct dstrat_host dstrat_host_t;         /* host services, host-owned */

#define DSTRAT_PARENT_NONE (-1) /* parent of the root */

/* log levels for host->log */
#define DSTRAT_LOG_DEBUG 0
#define DSTRAT_LOG_INFO 1
#define DSTRAT_LOG_WARNING 2
#define DSTRAT_LOG_ERROR 3

/* ============================================================================ capabilities */
#define DSTRAT_CAP_DRAFT (UINT64_C(1) << 0)        /* host->draft_forward exists */
#define DSTRAT_CAP_DRAFT_TREE (UINT64_C(1) << 1)   /* draft_forward accepts branching parents */
#define DSTRAT_CAP_VERIFY_TREE (UINT64_C(1) << 2)  /* target verifies a tree in one forward;
                                                      if absent the tree must be a chain */
#define DSTRAT_CAP_TARGET_DENSE (UINT64_C(1) << 3) /* verify gives dense post-sampler logp */
#define DSTRAT_CAP_TIMING (UINT64_C(1) << 4)       /* measured times are filled */

/* ============================================================================ keyed RNG */
/* The uniform in [0, 1) used to choose the token at absolute position pos under seed. Both
 * SplitMix64 finalizers are bijective, so distinct (seed, pos) give independent-looking streams.
 * Inline so that hosts and plugins agree bit for bit without linking anything. */
static inline uint64_t dstrat_mix64(uint64_t z) {
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}
static inline double dstrat_keyed_u01(uint64_t seed, uint64_t pos) {
    uint64_t z = dstrat_mix64(seed + UINT64_C(0x9e3779b97f4a7c15));
    z = dstrat_mix64(z ^ (pos * UINT64_C(0xd1b54a32d192ed03) + UINT64_C(0x8cb92ba72f3d8dd7)));
    return (double) (z >> 11) * (1.0 / 9007199254740992.0); /* 53 bits */
}

/* ============================================================================ limits */
typedef struct dstrat_host_limits {
    uint32_t struct_size;
    uint32_t n_vocab;           /* target vocabulary size */
    uint32_t max_seqs_per_step; /* max n in propose/accept (reference host: 1) */
    uint32_t max_tree_nodes;    /* including the root */
    uint32_t max_tree_depth;    /* edges from the root */
    uint32_t max_draft_nodes;   /* per sequence per draft_forward call */
    uint32_t max_draft_top_k;   /* largest top_k a draft_forward request may ask for */
} dstrat_host_limits_t;

/* ============================================================================ distributions */
/* A next-token distribution. Sparse when ids != NULL: n entries sorted by logp, descending (ties
 * by ascending id). Dense when ids == NULL: n == n_vocab and logp[t] is token t. Natural-log
 * probabilities, -INFINITY allowed. Memory is owned by whoever filled it (lifetime at the use). */
typedef struct dstrat_dist {
    uint32_t struct_size;
    uint32_t n;
    const dstrat_token_t *ids;
    const float *logp;
} dstrat_dist_t;

/* ============================================================================ draft forward */
/* Nodes of one sequence's draft tree in this cycle. Ids are cycle-local and implicit: the k-th
 * node ever submitted for this sequence in this cycle has id k, across all draft_forward calls
 * of this propose. The first node of a cycle must be the root (token = c[n-1], parent =
 * DSTRAT_PARENT_NONE); the host catches the draft model up on the committed sequence first.
 * Filled by the plugin; the arrays are plugin-owned and only read during the call. */
typedef struct dstrat_draft_req {
    uint32_t struct_size;
    uint32_t n_nodes;
    uint64_t host_seq;             /* from dstrat_session_params_t */
    const dstrat_token_t *token;   /* [n_nodes] */
    const int32_t *parent;         /* [n_nodes] an earlier cycle-local id, or PARENT_NONE (root) */
    const uint8_t *want;           /* [n_nodes] 1 = return a distribution; NULL = all */
    uint32_t top_k;                /* entries per returned distribution, 1..max_draft_top_k */
    uint32_t reserved0;            /* 0; explicit so that no field can land in tail padding */
} dstrat_draft_req_t;

/* Filled by the host. Contents are host-owned and valid until the next draft_forward for this
 * sequence or until propose returns. */
typedef struct dstrat_draft_out {
    uint32_t struct_size;          /* set by the plugin (the caller) to its sizeof */
    uint32_t n_out;                /* == number of wanted nodes */
    const int32_t *node;           /* [n_out] cycle-local id of each distribution */
    const dstrat_dist_t *dist;     /* [n_out] sparse top-k of the draft's next-token distribution */
    uint64_t t_ns;                 /* measured wall time of this forward (CAP_TIMING), else 0 */
    uint32_t n_evaluated;          /* tokens the draft model evaluated (catch-up included) */
    uint32_t reserved0;            /* 0; explicit so that no field can land in tail padding */
} dstrat_draft_out_t;

/* ============================================================================ tree */
#define DSTRAT_TREE_CHAIN 1u /* flags: parent[i] == i-1 for all i > 0 */

/* The plugin's proposal. Arrays are host-allocated with `capacity` entries, written by the plugin
 * in propose and read by the host until commit. */
typedef struct dstrat_tree {
    uint32_t struct_size;          /* host */
    uint32_t capacity;             /* host: >= session max_tree_nodes */
    uint32_t n_nodes;              /* plugin: >= 1 (root only = no draft) */
    uint32_t flags;                /* plugin: DSTRAT_TREE_* */
    dstrat_token_t *token;         /* [capacity] token[0] = root = last committed token */
    int32_t *parent;               /* [capacity] topological; parent[0] = PARENT_NONE */
    float *draft_logp;             /* [capacity] log q(token | parent path); 0 for the root;
                                      NAN if the strategy has no draft probability */
} dstrat_tree_t;

/* ============================================================================ verify */
/* Filled by the host; all pointers valid during accept only. */
typedef struct dstrat_verify {
    uint32_t struct_size;
    uint32_t n_nodes;              /* == tree->n_nodes */
    const dstrat_dist_t *target;   /* [n_nodes] dense post-sampler-chain distribution after
                                      path(0..i); NULL when greedy */
    const dstrat_token_t *argmax;  /* [n_nodes] target argmax after path(0..i) (lowest id on ties) */
    uint32_t greedy;               /* 1: the host decodes greedily (T = 0) */
    uint32_t reserved0;
    uint64_t rng_seed;             /* per sequence, from the host config */
    uint64_t root_pos;             /* absolute position of the root (n_committed - 1) */
} dstrat_verify_t;

/* ============================================================================ accept */
typedef struct dstrat_accept {
    uint32_t struct_size;          /* host */
    uint32_t capacity;             /* host: >= max_tree_depth + 1 */
    uint32_t n_path;               /* plugin: >= 1; path[0] == 0 */
    int32_t *path;                 /* [capacity] host-allocated; node indices, each a child of
                                      the previous */
    dstrat_token_t next_token;     /* plugin: the token after the path (next root) */
    uint32_t reserved0;            /* 0; explicit so that no field can land in tail padding */
} dstrat_accept_t;

/* ============================================================================ feedback */
/* Host-measured facts about the cycle just committed; passed to observe(). Host-owned, valid
 * during observe only. Times are wall-clock nanoseconds (0 without CAP_TIMING). */
typedef struct dstrat_cycle_stats {
    uint32_t struct_size;
    uint32_t n_draft_calls;        /* draft_forward calls made during propose */
    uint64_t t_draft_ns;           /* sum over those calls */
    uint32_t n_draft_evaluated;    /* draft tokens evaluated (catch-up included) */
    uint32_t n_verified;           /* tokens in the target verify forward (tree nodes) */
    uint64_t t_verify_ns;          /* target verify forward */
    uint64_t t_propose_ns;         /* whole propose call, draft calls included */
    uint64_t t_accept_ns;          /* accept call */
    uint32_t n_accepted;           /* tokens committed this cycle (path drafts + next_token) */
    uint32_t n_context;            /* committed tokens after the commit */
} dstrat_cycle_stats_t;

/* ============================================================================ parameters */
/* One YAML key with its value as text. Host-owned, valid during strategy_create only. */
typedef struct dstrat_param {
    const char *key;
    const char *value;
} dstrat_param_t;

/* Parameter types (dstrat_param_desc_t.type) */
#define DSTRAT_PARAM_INT 0     /* decimal integer within [min, max] */
#define DSTRAT_PARAM_FLOAT 1   /* decimal number within [min, max] */
#define DSTRAT_PARAM_BOOL 2    /* true/false */
#define DSTRAT_PARAM_STRING 3  /* free text; `choices` lists the allowed values if not NULL */
#define DSTRAT_PARAM_PATH 4    /* a file path, resolved by the host relative to the config file */

/* Plugin-owned, static, valid until deinit. */
typedef struct dstrat_param_desc {
    uint32_t struct_size;
    uint32_t type;                 /* DSTRAT_PARAM_* */
    const char *key;
    const char *default_value;     /* text; NULL = required */
    double min_value;              /* INT/FLOAT: inclusive bounds (ignored for other types) */
    double max_value;
    const char *choices;           /* STRING: "a|b|c" or NULL */
    const char *help;              /* one line */
} dstrat_param_desc_t;

/* ============================================================================ host */
struct dstrat_host {
    uint32_t struct_size;
    dstrat_version_t abi_version;        /* DSTRAT_VERSION_INIT of the host build */
    void *host_data;                     /* reserved for the host */
    const char *name;                    /* e.g. "refhost" */
    const char *version;
    uint64_t caps;                       /* DSTRAT_CAP_* */
    const dstrat_host_limits_t *limits;

    /* [discovery] Optional interfaces by id, e.g. "dstrat.host.hidden/1"; NULL if absent. The
       returned struct is host-owned and valid until the strategy is destroyed. May be NULL. */
    const void *(DSTRAT_CALL *get_extension)(const dstrat_host_t *h, const char *id);
    /* [discovery] May be NULL. msg is borrowed for the call. */
    void (DSTRAT_CALL *log)(const dstrat_host_t *h, int32_t level, const char *msg);
    /* [discovery] Monotonic clock in nanoseconds (what the host uses for its timings). */
    uint64_t (DSTRAT_CALL *now_ns)(const dstrat_host_t *h);

    /* [callback] Draft forward for n sequences at once (ragged). outs[i] is filled by the host
       (the plugin sets outs[i].struct_size). Required with CAP_DRAFT, else NULL.
       Returns DSTRAT_OK; E_INVALID_ARG (bad parent, root missing, top_k out of range),
       E_CAPACITY (more nodes than max_draft_nodes / the tree limits), E_HOST. On error no output
       is valid and the cycle's draft state for those sequences is undefined until propose ends. */
    dstrat_status_t (DSTRAT_CALL *draft_forward)(const dstrat_host_t *h, uint32_t n,
                                                 const dstrat_draft_req_t *reqs,
                                                 dstrat_draft_out_t *outs);
};

/* ============================================================================ strategy */
typedef struct dstrat_strategy_desc { /* plugin-owned, static, valid until deinit */
    uint32_t struct_size;
    dstrat_version_t abi_version;     /* what the plugin was built against */
    const char *id;                   /* short, unique within the .so, e.g. "chain" */
    const char *name;                 /* human-readable */
    const char *version;              /* of the strategy itself */
    const char *description;
    uint64_t required_caps;           /* strategy_create fails with E_UNSUPPORTED otherwise */
    uint64_t optional_caps;
    uint32_t n_params;
    const dstrat_param_desc_t *params;
} dstrat_strategy_desc_t;

typedef struct dstrat_session_params { /* host-owned, read during session_create only */
    uint32_t struct_size;
    uint32_t max_tree_nodes;           /* <= limits; the plugin must respect these */
    uint64_t host_seq;                 /* echoed in draft_forward requests */
    uint64_t caps;                     /* caps for this sequence (may be narrower than host caps) */
    uint32_t max_tree_depth;
    uint32_t greedy;                   /* 1: the host decodes greedily (T = 0) for this sequence */
    uint64_t rng_seed;
} dstrat_session_params_t;

struct dstrat_strategy {
    uint32_t struct_size;
    const dstrat_strategy_desc_t *desc;
    void *plugin_data;                 /* reserved for the plugin */

    /* [instance] After destroy no other call on s is allowed; destroy its sessions first. */
    void (DSTRAT_CALL *destroy)(dstrat_strategy_t *s);
    /* [instance] Text for the last failed call on s (or ""), plugin-owned, valid until the next
       call on s. Never NULL. */
    const char *(DSTRAT_CALL *last_error)(const dstrat_strategy_t *s);
    /* [discovery] Optional interfaces by id; NULL if absent. */
    const void *(DSTRAT_CALL *get_extension)(const dstrat_strategy_t *s, const char *id);

    /* [instance] Creates per-sequence state. E_INVALID_ARG on NULLs or limits too small. */
    dstrat_status_t (DSTRAT_CALL *session_create)(dstrat_strategy_t *s,
                                                  const dstrat_session_params_t *sp,
                                                  dstrat_session_t **out);
    /* [instance] NULL is a no-op. */
    void (DSTRAT_CALL *session_destroy)(dstrat_strategy_t *s, dstrat_session_t *ss);

    /* [step] The committed sequence is now tokens[0..n), n >= 1 (new prompt, edit, or host-side
       truncation); the target KV holds tokens[0..n-1). tokens is borrowed for the call. Must be
       called before the first propose. */
    dstrat_status_t (DSTRAT_CALL *session_reset)(dstrat_strategy_t *s, dstrat_session_t *ss,
                                                 const dstrat_token_t *tokens, uint32_t n);

    /* [step] Fills trees[i] for the n sessions ss[i] (capacity set by the host). May call
       host->draft_forward any number of times. DSTRAT_OK; DSTRAT_EMPTY when every tree is the root
       only (nothing drafted, still a valid cycle); or a negative error for the whole call (then no
       tree is valid). E_STATE if a session was not reset or an accept is pending. */
    dstrat_status_t (DSTRAT_CALL *propose)(dstrat_strategy_t *s, uint32_t n,
                                           dstrat_session_t *const *ss,
                                           dstrat_tree_t *const *trees);

    /* [step] trees[i] is what propose wrote; v[i] is the host's verification. Fills acc[i]. Must
       not call host callbacks. E_STATE without a preceding propose. */
    dstrat_status_t (DSTRAT_CALL *accept)(dstrat_strategy_t *s, uint32_t n,
                                          dstrat_session_t *const *ss,
                                          const dstrat_tree_t *const *trees,
                                          const dstrat_verify_t *const *v,
                                          dstrat_accept_t *const *acc);

    /* [step] Optional (may be NULL): measured facts about the cycle the host just committed for
       ss, so the strategy can calibrate its cost model. */
    dstrat_status_t (DSTRAT_CALL *observe)(dstrat_strategy_t *s, dstrat_session_t *ss,
                                           const dstrat_cycle_stats_t *st);
};

/* ============================================================================ entry */
typedef struct dstrat_entry {
    uint32_t struct_size;
    dstrat_version_t abi_version;     /* version the plugin was built against */

    /* [discovery, not concurrent with anything in this .so] Refcounted and idempotent: every
       successful init is matched by one deinit. No weight loading. so_path is borrowed. */
    dstrat_status_t (DSTRAT_CALL *init)(const char *so_path);
    void (DSTRAT_CALL *deinit)(void);

    /* [discovery] */
    uint32_t (DSTRAT_CALL *strategy_count)(void);
    /* [discovery] NULL if index >= strategy_count(). */
    const dstrat_strategy_desc_t *(DSTRAT_CALL *strategy_desc)(uint32_t index);

    /* [instance] host must stay valid until s->destroy. params (host-owned, call-scoped) are
       validated against the descriptor; missing keys take their defaults. On failure returns
       E_NOT_FOUND (no such id), E_STATE (init was not called), E_INVALID_ARG (a message naming the key is written to err,
       NUL-terminated, at most err_cap bytes), E_UNSUPPORTED (host lacks a required cap), E_IO
       (a file parameter could not be read), E_VERSION (host ABI too old). */
    dstrat_status_t (DSTRAT_CALL *strategy_create)(const char *id, const dstrat_host_t *host,
                                                   const dstrat_param_t *params, uint32_t n_params,
                                                   dstrat_strategy_t **out, char *err,
                                                   size_t err_cap);
} dstrat_entry_t;

/* The only exported symbol. Returns NULL if the plugin cannot serve host_abi (e.g. another
 * major). [discovery] */
DSTRAT_EXPORT const dstrat_entry_t *DSTRAT_CALL dstrat_entry_v1(const dstrat_version_t *host_abi);
typedef const dstrat_entry_t *(DSTRAT_CALL *dstrat_entry_fn)(const dstrat_version_t *host_abi);
#define DSTRAT_ENTRY_SYMBOL "dstrat_entry_v1"

#ifdef __cplusplus
}
#endif
#endif /* DSTRAT_H */
