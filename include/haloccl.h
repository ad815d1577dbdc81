/* SPDX-License-Identifier: MIT */
/*
 * haloccl.h — the public API of haloccl, a collective-communication library for
 * clusters of AMD Strix Halo APUs (and any Linux hosts) linked by RoCE NICs, USB4
 * networking or plain Ethernet.
 *
 * The API mirrors NCCL's shape: an engine ports by changing the `nccl` prefix to
 * `halo`. Enum values equal NCCL 2.28's, so values can be passed through unchanged.
 *
 * Threading: a communicator may be used by one thread at a time. Different
 * communicators may be used concurrently from different threads. Exceptions:
 * haloCommAbort may be called from any thread at any moment (it ends the calls
 * running on the communicator), and haloCommGetAsyncError and haloGetLastError
 * from any thread.
 *
 * Memory and streams:
 * - Host mode: `stream` NULL and host buffers. Every call completes before it
 *   returns (outside a group); the library keeps no pointer to the buffers after.
 * - GPU mode: `stream` is a hipStream_t (HIP) or cudaStream_t (CUDA); the runtime
 *   is loaded at run time (HALO_GPU_RUNTIME, HALO_GPU_LIBRARY). The call returns
 *   at once; the collective runs when the stream reaches it, and work queued on
 *   the stream after the call sees its result. Buffers may be device memory,
 *   pinned or pageable host memory, managed memory or haloMemAlloc memory, mixed
 *   in one call; they must stay valid until the stream passes the call. Device
 *   memory the CPU cannot reach is staged through the communicator's pinned pool
 *   (HALO_POOL_SIZE); memory from haloMemAlloc never is. Calls on one
 *   communicator run in the order they were issued, whatever their streams.
 *   Captured into a graph (hip/cudaStreamBeginCapture), a call runs at every
 *   replay. A stream NULL call with device buffers blocks like a host-mode call.
 *   Errors found while the stream waits (a dead peer) reach
 *   haloCommGetAsyncError and the next call, and the stream is released.
 *   All-reduce, broadcast and reduce on streams larger than a quarter of
 *   HALO_POOL_SIZE run as a sequence of pieces on every rank: a rank must not
 *   issue the same such call in host mode while its peers use streams.
 */
#ifndef HALOCCL_H
#define HALOCCL_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define HALO_MAJOR 0
#define HALO_MINOR 1
#define HALO_PATCH 0
/* Same formula as NCCL_VERSION for major >= 2; here major*10000+minor*100+patch. */
#define HALO_VERSION(X, Y, Z) ((X) * 10000 + (Y) * 100 + (Z))
#define HALO_VERSION_CODE HALO_VERSION(HALO_MAJOR, HALO_MINOR, HALO_PATCH)

#if defined(__GNUC__)
#define HALO_API __attribute__((visibility("default")))
#else
#define HALO_API
#endif

/* Opaque communicator handle. */
typedef struct halo_comm *haloComm_t;

/* Stream handle: a hipStream_t / cudaStream_t in the GPU layer; NULL in host mode. */
typedef void *haloStream_t;

#define HALO_UNIQUE_ID_BYTES 128
/* Holds the root's address and a random per-job secret. Pass by value, like ncclUniqueId.
 * Treat it as a secret: whoever holds it can join the job. */
typedef struct {
    char internal[HALO_UNIQUE_ID_BYTES];
} haloUniqueId;

/* Values equal ncclResult_t. */
typedef enum {
    haloSuccess = 0,
    haloUnhandledCudaError = 1, /* GPU runtime error */
    haloSystemError = 2,        /* OS / network / memory failure */
    haloInternalError = 3,
    haloInvalidArgument = 4, /* a bad argument, rejected before any byte moved */
    haloInvalidUsage = 5,    /* calls that do not match across ranks, wrong order */
    haloRemoteError = 6,     /* a peer died, timed out or reported an error */
    haloInProgress = 7,
    haloNumResults = 8
} haloResult_t;

/* Values equal ncclDataType_t (2.28). */
typedef enum {
    haloInt8 = 0,
    haloChar = 0,
    haloUint8 = 1,
    haloInt32 = 2,
    haloInt = 2,
    haloUint32 = 3,
    haloInt64 = 4,
    haloUint64 = 5,
    haloFloat16 = 6,
    haloHalf = 6,
    haloFloat32 = 7,
    haloFloat = 7,
    haloFloat64 = 8,
    haloDouble = 8,
    haloBfloat16 = 9,
    haloFloat8e4m3 = 10,
    haloFloat8e5m2 = 11,
    haloNumTypes = 12
} haloDataType_t;

/* Values equal ncclRedOp_t. Avg divides the sum by the number of ranks (integer
 * types: truncating division). */
typedef enum {
    haloSum = 0,
    haloProd = 1,
    haloMax = 2,
    haloMin = 3,
    haloAvg = 4,
    haloNumOps = 5
} haloRedOp_t;

/* Values equal ncclScalarResidence_t: where a pre-mul-sum scalar lives. */
typedef enum {
    haloScalarDevice = 0,        /* memory the GPU reads (any kind, device included): read when the call runs */
    haloScalarHostImmediate = 1  /* host memory: the value is copied before haloRedOpCreatePreMulSum returns */
} haloScalarResidence_t;

/* Compressed wire formats for all-reduce and reduce-scatter (sum and avg of
 * float32, float16, bfloat16): what each reduction step sends. Every step
 * dequantizes to float32, adds, and requantizes; the finished blocks travel
 * unchanged and every rank writes their decoded values, so all ranks end with
 * bit-identical results. Lossy: see the README for the error bounds. */
typedef enum {
    haloWireOff = 0,  /* the data's own type (exact) */
    haloWireBf16 = 1, /* bfloat16 per value (float32 input only): 2 bytes per value */
    haloWireFp8 = 2,  /* e4m3 with one float16 scale per block of 32 values: 1.0625 bytes per value */
    haloWireQ8 = 3    /* int8 with one float16 scale per block of 32 values (q80-sized): 1.0625 bytes per value */
} haloWireFormat_t;

#define HALO_CONFIG_UNDEF_INT (-2147483647 - 1)
#define HALO_CONFIG_UNDEF_PTR NULL
#define HALO_SPLIT_NOCOLOR (-1)
#define HALO_CONFIG_MAGIC 0xcafebeefu

/* Communicator configuration, read the NCCL way: the library copies min(size, its
 * own sizeof) bytes, checks the magic and ignores fields newer than `version`.
 * Initialise with HALO_CONFIG_INITIALIZER, then set fields. */
typedef struct haloConfig_v1 {
    size_t size;
    unsigned int magic;
    unsigned int version;
    int blocking;       /* only 1 (blocking) is supported in host mode */
    int nChannels;      /* channels (threads / connections) per peer; UNDEF = auto */
    int timeoutMs;      /* dead-peer timeout; UNDEF = HALO_TIMEOUT_MS */
    int splitShare;     /* accepted for NCCL compatibility */
    const char *commName; /* shown in logs; copied */
    int wireFormat;       /* haloWireFormat_t for all-reduce and reduce-scatter; UNDEF = HALO_WIRE */
    int wireMinBytes;     /* calls below this size stay uncompressed; UNDEF = HALO_WIRE_MIN */
} haloConfig_t;

#define HALO_CONFIG_INITIALIZER                                                         \
    {                                                                                   \
        sizeof(haloConfig_t), HALO_CONFIG_MAGIC, HALO_VERSION_CODE,                      \
            HALO_CONFIG_UNDEF_INT, HALO_CONFIG_UNDEF_INT, HALO_CONFIG_UNDEF_INT,         \
            HALO_CONFIG_UNDEF_INT, HALO_CONFIG_UNDEF_PTR, HALO_CONFIG_UNDEF_INT,         \
            HALO_CONFIG_UNDEF_INT                                                        \
    }

/* ---- Version and errors (any thread, never block) ---- */

/* *version = HALO_VERSION_CODE of the library that runs. */
HALO_API haloResult_t haloGetVersion(int *version);
/* Static text for a result code; never NULL. */
HALO_API const char *haloGetErrorString(haloResult_t result);
/* A description of a live communicator, as halo-info would print it: this rank,
 * the topology class, each peer with its host, the transport to it and its FIFO,
 * and the plan (the algorithm each all-reduce size gets). Lines end in '\n'.
 * Local, does not block; same thread rules as the other calls on comm. buf is the
 * caller's; too small a buf gives haloInvalidArgument (the text cut at len-1). */
HALO_API haloResult_t haloCommDescribe(haloComm_t comm, char *buf, size_t len);

/* The last error recorded on `comm` as a sentence a user can act on (which rank,
 * which peer, which interface, what to set). With comm == NULL: the last error of
 * the calling thread (init failures happen before a communicator exists); a call
 * that failed also left its sentence there, so it is still readable once the
 * communicator was aborted or destroyed. The string is a copy owned by the
 * calling thread, valid until its next haloGetLastError. */
HALO_API const char *haloGetLastError(haloComm_t comm);

/* ---- Communicator setup (blocking, collective over the ranks named) ---- */

/* Creates an id on the root: opens the bootstrap listener (HALO_SOCKET_IFNAME
 * chooses the interface) and draws a random per-job secret. Call on one process,
 * send the 128 bytes to every rank out of band (they carry the secret: keep them
 * from untrusted eyes). The listener lives until the communicator built on this id
 * is created and destroyed, or until the process exits. */
HALO_API haloResult_t haloGetUniqueId(haloUniqueId *uniqueId);

/* Collective over nranks processes: each calls it with the same id and its own rank.
 * Blocks until every rank has joined and connections are established, or fails
 * after HALO_TIMEOUT_MS. *comm is set only on success. */
HALO_API haloResult_t haloCommInitRank(haloComm_t *comm, int nranks, haloUniqueId commId, int rank);
/* As haloCommInitRank with a config (NULL = defaults). */
HALO_API haloResult_t haloCommInitRankConfig(haloComm_t *comm, int nranks, haloUniqueId commId, int rank,
                                             haloConfig_t *config);
/* Creates a communicator from the environment, for launchers: HALO_ROOT=host:port
 * with HALO_RANK and HALO_NRANKS, or the variables set by OpenMPI (OMPI_COMM_WORLD_*),
 * MPICH/PMI (PMI_RANK/PMI_SIZE), Slurm (SLURM_PROCID/SLURM_NTASKS) and torchrun
 * (RANK/WORLD_SIZE/MASTER_ADDR/MASTER_PORT). Rank 0 listens on the root address,
 * the others connect to it. The secret comes from HALO_SECRET or HALO_SECRET_FILE;
 * without one the job runs unauthenticated and a WARN says so. */
HALO_API haloResult_t haloCommInitEnv(haloComm_t *comm);

/* Collective over the ranks of `comm`: ranks with the same color form a new
 * communicator ordered by (key, old rank). color HALO_SPLIT_NOCOLOR gives
 * *newcomm = NULL. config NULL inherits the parent's. */
HALO_API haloResult_t haloCommSplit(haloComm_t comm, int color, int key, haloComm_t *newcomm,
                                    haloConfig_t *config);

/* Frees the communicator after its operations completed. Calls still running on
 * it in other threads are waited for (each ends by itself, at the latest after
 * HALO_TIMEOUT_MS; haloCommAbort meanwhile ends them at once); calls starting
 * meanwhile get haloInvalidUsage. Local: does not wait for
 * peers, with one exception: in the process that serves the job's bootstrap root
 * (the one that called haloGetUniqueId, or rank 0 under haloCommInitEnv) it waits,
 * at most min(HALO_TIMEOUT_MS, 10 s), until the ranks of other processes have
 * destroyed theirs, because the root ends with that process and a rank still
 * finishing its last collective would take its end for an abort. The handle is
 * invalid afterwards; later calls with it are detected and rejected as long as the
 * memory is not reused by the application. */
HALO_API haloResult_t haloCommDestroy(haloComm_t comm);
/* Ends the communicator from any thread, at any moment. Every call running on it
 * in any thread (collectives, sends and receives, haloGroupEnd, the parent's part
 * of haloCommSplit) returns haloRemoteError, and haloGetLastError in that thread
 * says that this rank aborted; calls that start once the abort has begun get
 * haloInvalidUsage, and once it returned haloInvalidArgument (the handle is
 * invalid; detected as long as the application does not reuse the memory). The
 * other ranks' communicators break with haloRemoteError naming this rank, within
 * milliseconds (relayed through the bootstrap root). Memory is freed only once no
 * call runs on it.
 * Local and bounded: it never waits for a peer. It waits at most 1 s for the calls
 * it ended to return (they notice within microseconds; past 1 s it returns and the
 * last of them frees the communicator), then closes without flushing (the
 * bootstrap goodbye waits at most min(HALO_TIMEOUT_MS, 1 s)): about 2 s at worst,
 * milliseconds in practice. A second abort, or a destroy racing it, gets
 * haloInvalidUsage or haloInvalidArgument and does nothing; an abort while a
 * destroy waits for calls ends those calls and leaves the freeing to the destroy. */
HALO_API haloResult_t haloCommAbort(haloComm_t comm);

/* Registers buff[0..size) with the communicator's RDMA devices (pinned until
 * haloCommDeregister or destroy): large sends, receives and all-reduces over ib
 * whose buffers lie inside it go zero-copy without registering per call (buffers
 * that are not registered are registered for the call and released after it).
 * On communicators without ib it only records the range. Local, not collective.
 * The memory must stay allocated while registered. */
HALO_API haloResult_t haloCommRegister(const haloComm_t comm, void *buff, size_t size, void **handle);
HALO_API haloResult_t haloCommDeregister(const haloComm_t comm, void *handle);

HALO_API haloResult_t haloCommCount(const haloComm_t comm, int *count);
HALO_API haloResult_t haloCommUserRank(const haloComm_t comm, int *rank);
/* *asyncError = haloSuccess, or the error that broke the communicator (a dead peer,
 * a mismatch). Any thread. */
HALO_API haloResult_t haloCommGetAsyncError(haloComm_t comm, haloResult_t *asyncError);

/* ---- GPU memory ---- */

/* Memory the GPU uses as ordinary device memory and the CPU and NIC reach
 * directly (pinned, mapped host memory: GTT on an APU). Buffers from it go
 * through every transport without staging. Without a GPU runtime: page-aligned
 * host memory. size 0 gives *ptr = NULL. */
HALO_API haloResult_t haloMemAlloc(void **ptr, size_t size);
/* Frees memory from haloMemAlloc (NULL is fine). Any other pointer, or one freed
 * already, is haloInvalidArgument and nothing is freed. */
HALO_API haloResult_t haloMemFree(void *ptr);

/* ---- Collectives ----
 * Called by every rank of comm in the same order with matching arguments (a
 * mismatch fails on both sides with haloInvalidUsage naming both calls). Block
 * until complete in host mode unless inside a group; on a stream, return at once. sendbuff may equal recvbuff
 * (in place) where noted. Exact in place, as each call below defines it, is the only
 * overlap allowed between the bytes a call reads and the bytes it writes; any other
 * overlap is haloInvalidArgument (host and GPU buffers alike). count 0 is valid and
 * moves nothing. */

/* recvbuff[i] = op over ranks of sendbuff[i]. In place allowed. */
HALO_API haloResult_t haloAllReduce(const void *sendbuff, void *recvbuff, size_t count, haloDataType_t datatype,
                                    haloRedOp_t op, haloComm_t comm, haloStream_t stream);
/* recvbuff[r*sendcount + i] = rank r's sendbuff[i]. In place when
 * sendbuff == recvbuff + rank*sendcount. */
HALO_API haloResult_t haloAllGather(const void *sendbuff, void *recvbuff, size_t sendcount,
                                    haloDataType_t datatype, haloComm_t comm, haloStream_t stream);
/* recvbuff = root's sendbuff (sendbuff is read on root only, may be NULL elsewhere). */
HALO_API haloResult_t haloBroadcast(const void *sendbuff, void *recvbuff, size_t count, haloDataType_t datatype,
                                    int root, haloComm_t comm, haloStream_t stream);
/* recvbuff[i] = op over ranks of sendbuff[rank*recvcount + i]. In place when
 * recvbuff == sendbuff + rank*recvcount. */
HALO_API haloResult_t haloReduceScatter(const void *sendbuff, void *recvbuff, size_t recvcount,
                                        haloDataType_t datatype, haloRedOp_t op, haloComm_t comm,
                                        haloStream_t stream);
/* Root's recvbuff = op over ranks of sendbuff (recvbuff used on root only). */
HALO_API haloResult_t haloReduce(const void *sendbuff, void *recvbuff, size_t count, haloDataType_t datatype,
                                 haloRedOp_t op, int root, haloComm_t comm, haloStream_t stream);

/* ---- Reduction ops ---- */

/* Creates a pre-mul-sum op on comm, as ncclRedOpCreatePreMulSum: a reduction with
 * it multiplies each rank's input by that rank's scalar (one element of datatype)
 * and sums the products over the ranks. The op value (>= haloNumOps) is valid
 * only on comm, with this datatype, for all-reduce, reduce and reduce-scatter;
 * elsewhere the call fails with haloInvalidArgument.
 * haloScalarHostImmediate: *scalar is copied now. haloScalarDevice: scalar is
 * read each time a call using the op runs (on a stream: when the stream reaches
 * it, by the runtime, so a kernel queued before the call may write it; without a
 * GPU runtime: a host pointer read then); it must stay valid until those calls
 * ran. Products round like haloProd (half and fp8 types in float32, rounded once).
 * Local, non-blocking; the thread that uses comm. Every rank creates its own op
 * (the values may differ between ranks). */
HALO_API haloResult_t haloRedOpCreatePreMulSum(haloRedOp_t *op, void *scalar, haloDataType_t datatype,
                                               haloScalarResidence_t residence, haloComm_t comm);
/* Destroys an op of comm. Allowed as soon as the last call given the op returned
 * (calls still queued on streams took what they need). Built-in ops and ops of
 * another communicator are rejected with haloInvalidArgument. */
HALO_API haloResult_t haloRedOpDestroy(haloRedOp_t op, haloComm_t comm);

/* ---- Point to point ----
 * A send is matched with the peer's recv of the same count and type, in posting
 * order per pair. Outside a group a recv blocks until its data arrived; a send
 * returns as soon as its bytes are in the connection's FIFO, so a send of up to
 * the eager limit (HALO_BUFFSIZE: 8 slots, 512 KiB on shm and 4 MiB on tcp/ib by
 * default) returns before the receiver posts its recv, and a larger one waits for
 * the receiver to take the rest. Two ranks that both send first to each other
 * therefore work at small sizes and deadlock above the limit; haloccl detects it
 * (about a second into the wait) and fails both sends with haloInvalidUsage. Put
 * both sides of an exchange in one haloGroupStart/haloGroupEnd, which never
 * deadlocks. Send to self works in a group. */
HALO_API haloResult_t haloSend(const void *sendbuff, size_t count, haloDataType_t datatype, int peer,
                               haloComm_t comm, haloStream_t stream);
HALO_API haloResult_t haloRecv(void *recvbuff, size_t count, haloDataType_t datatype, int peer, haloComm_t comm,
                               haloStream_t stream);

/* ---- Groups (calling thread; nestable) ----
 * Operations issued between Start and End are queued and run together at the
 * outermost End, which blocks until all complete (host mode); with streams, End
 * hands each communicator's operations to its progress thread as one unit, with
 * one wait per stream, and returns at once. Collectives run in issue order;
 * sends and receives progress concurrently, so paired exchanges never deadlock.
 * Buffers must stay valid until End returns. */
HALO_API haloResult_t haloGroupStart(void);
HALO_API haloResult_t haloGroupEnd(void);

#ifdef __cplusplus
}
#endif

#endif /* HALOCCL_H */
