/* SPDX-License-Identifier: MIT */
/*
 * test_boot_unit.c — single-process checks of the socket helpers and the unique id:
 * HALO_SOCKET_IFNAME syntax, address text both ways, interface listing, I/O and
 * connect deadlines, uid encode/decode.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "boot_util.h"

static void test_ifname_match(void)
{
    /* empty spec: everything */
    ASSERT_TRUE(halo_ifname_match("", "eth0"));
    ASSERT_TRUE(halo_ifname_match(NULL, "lo"));
    /* prefix list */
    ASSERT_TRUE(halo_ifname_match("eth", "eth0"));
    ASSERT_TRUE(halo_ifname_match("eth", "eth12"));
    ASSERT_TRUE(!halo_ifname_match("eth", "ens3"));
    ASSERT_TRUE(halo_ifname_match("ib,eth", "eth1"));
    ASSERT_TRUE(halo_ifname_match("ib,eth", "ib0"));
    ASSERT_TRUE(!halo_ifname_match("ib,eth", "lo"));
    ASSERT_TRUE(!halo_ifname_match("eth0", "eth"));   /* prefix of the spec is not a match */
    ASSERT_TRUE(halo_ifname_match("eth0", "eth0.100")); /* prefix form */
    /* exclude */
    ASSERT_TRUE(!halo_ifname_match("^docker", "docker0"));
    ASSERT_TRUE(halo_ifname_match("^docker", "eth0"));
    ASSERT_TRUE(!halo_ifname_match("^docker,lo", "lo"));
    ASSERT_TRUE(!halo_ifname_match("^docker,lo", "docker1"));
    ASSERT_TRUE(halo_ifname_match("^docker,lo", "enp1s0"));
    /* exact */
    ASSERT_TRUE(halo_ifname_match("=eth0", "eth0"));
    ASSERT_TRUE(!halo_ifname_match("=eth0", "eth01"));
    ASSERT_TRUE(!halo_ifname_match("=eth0", "eth"));
    ASSERT_TRUE(halo_ifname_match("=eth0,ib0", "ib0"));
    ASSERT_TRUE(!halo_ifname_match("=eth0,ib0", "ib01"));
    /* exact exclude */
    ASSERT_TRUE(!halo_ifname_match("^=eth0", "eth0"));
    ASSERT_TRUE(halo_ifname_match("^=eth0", "eth01"));
    ASSERT_TRUE(halo_ifname_match("^=eth0", "ib0"));
    /* empty items are ignored */
    ASSERT_TRUE(halo_ifname_match("eth,,ib", "ib3"));
    ASSERT_TRUE(!halo_ifname_match(",", "eth0"));
    ASSERT_TRUE(halo_ifname_match("^", "eth0"));
}

static void check_parse(const char *text, int family, const char *host, unsigned port)
{
    struct halo_sockaddr a;
    char err[256], buf[64], hostbuf[64];
    if (halo_sockaddr_parse(text, &a, err, sizeof(err)) != 0)
        TEST_FAIL("parse '%s': %s", text, err);
    ASSERT_EQ(a.family, family);
    ASSERT_EQ(ntohs(a.port), port);
    inet_ntop(family, a.addr, hostbuf, sizeof(hostbuf));
    ASSERT_STREQ(hostbuf, host);
    /* text -> address -> text -> address is stable */
    struct halo_sockaddr b;
    halo_sockaddr_str(&a, buf, sizeof(buf));
    if (halo_sockaddr_parse(buf, &b, err, sizeof(err)) != 0)
        TEST_FAIL("reparse '%s': %s", buf, err);
    ASSERT_TRUE(memcmp(&a, &b, sizeof(a)) == 0);
}

static void check_parse_fails(const char *text, const char *why)
{
    struct halo_sockaddr a;
    char err[256] = "";
    ASSERT_EQ(halo_sockaddr_parse(text, &a, err, sizeof(err)), -1);
    ASSERT_CONTAINS(err, why);
}

static void test_sockaddr(void)
{
    char buf[64];
    check_parse("10.1.2.3:4000", AF_INET, "10.1.2.3", 4000);
    check_parse("127.0.0.1:0", AF_INET, "127.0.0.1", 0);
    check_parse("127.0.0.1", AF_INET, "127.0.0.1", 0);
    check_parse("[::1]:29500", AF_INET6, "::1", 29500);
    check_parse("[fe80::1:2]:7", AF_INET6, "fe80::1:2", 7);
    check_parse("::1", AF_INET6, "::1", 0);
    check_parse("localhost:80", AF_INET, "127.0.0.1", 80); /* IPv4 first */

    check_parse_fails("", "not an address");
    check_parse_fails("10.0.0.1:", "port");
    check_parse_fails("10.0.0.1:65536", "port");
    check_parse_fails("10.0.0.1:-1", "port");
    check_parse_fails("10.0.0.1:12ab", "port");
    check_parse_fails(":4000", "not an address");
    check_parse_fails("[::1", "not an address");
    check_parse_fails("[::1]4000", "not an address");
    check_parse_fails("[]:4000", "not an address");
    check_parse_fails("no-such-host.invalid:1", "no-such-host.invalid");

    struct sockaddr_in6 s6 = {.sin6_family = AF_INET6, .sin6_port = htons(5), .sin6_scope_id = 1};
    inet_pton(AF_INET6, "fe80::7", &s6.sin6_addr);
    struct halo_sockaddr a;
    halo_sockaddr_from(&a, (struct sockaddr *)&s6);
    halo_sockaddr_str(&a, buf, sizeof(buf));
    ASSERT_TRUE(buf[0] == '[' && strstr(buf, "fe80::7%") && strstr(buf, "]:5"));
    struct sockaddr_storage ss;
    ASSERT_EQ(halo_sockaddr_to(&a, &ss), sizeof(struct sockaddr_in6));
    ASSERT_EQ(((struct sockaddr_in6 *)&ss)->sin6_scope_id, 1);

    struct sockaddr_in s4 = {.sin_family = AF_INET, .sin_port = htons(4000)};
    inet_pton(AF_INET, "192.168.7.9", &s4.sin_addr);
    halo_sockaddr_from(&a, (struct sockaddr *)&s4);
    ASSERT_STREQ(halo_sockaddr_str(&a, buf, sizeof(buf)), "192.168.7.9:4000");
    ASSERT_EQ(halo_sockaddr_to(&a, &ss), sizeof(struct sockaddr_in));
}

static void test_if_list(void)
{
    struct halo_ifaddr ifs[32];
    int n = halo_if_list("", 0, ifs, 32);
    ASSERT_TRUE(n >= 1);
    int saw_loopback = 0;
    for (int i = 0; i < n; i++)
        saw_loopback |= !strcmp(ifs[i].name, "lo");
    if (n > 1 || strcmp(ifs[0].name, "lo") != 0)
        ASSERT_TRUE(!saw_loopback); /* loopback only when nothing else is up */
    /* docker* / veth* / virbr* come after every other interface */
    int seen_virtual = 0;
    for (int i = 0; i < n; i++) {
        int v = !strncmp(ifs[i].name, "docker", 6) || !strncmp(ifs[i].name, "veth", 4) ||
                !strncmp(ifs[i].name, "virbr", 5);
        ASSERT_TRUE(v || !seen_virtual);
        seen_virtual |= v;
    }

    n = halo_if_list("=lo", AF_INET, ifs, 32);
    ASSERT_EQ(n, 1);
    ASSERT_STREQ(ifs[0].name, "lo");
    ASSERT_EQ(ifs[0].addr.family, AF_INET);
    char name[32];
    halo_if_name_of(&ifs[0].addr, name, sizeof(name));
    ASSERT_STREQ(name, "lo");
    ASSERT_EQ(halo_if_list("=no-such-if0", 0, ifs, 32), 0);
    ASSERT_EQ(halo_if_list("^lo", 0, ifs, 32) >= 0, 1);
    for (int i = 0, k = halo_if_list("^lo", 0, ifs, 32); i < k; i++)
        ASSERT_TRUE(strcmp(ifs[i].name, "lo") != 0);
}

static struct halo_sockaddr loopback(uint16_t port)
{
    struct halo_sockaddr a;
    char err[128];
    ASSERT_OK(halo_sockaddr_parse("127.0.0.1", &a, err, sizeof(err)));
    a.port = htons(port);
    return a;
}

/* A port with nothing listening on it (bound, then closed). */
static struct halo_sockaddr dead_port(void)
{
    struct halo_sockaddr a = loopback(0), bound;
    int fd = halo_socket_listen(&a, 1, &bound);
    ASSERT_TRUE(fd >= 0);
    close(fd);
    return bound;
}

static void test_listen_connect_io(void)
{
    struct halo_sockaddr a = loopback(0), bound;
    int lfd = halo_socket_listen(&a, 4, &bound);
    ASSERT_TRUE(lfd >= 0);
    ASSERT_TRUE(bound.port != 0);
    int err = -1;
    int cfd = halo_socket_connect(&bound, &a, halo_now_us() + 2000000, &err);
    ASSERT_TRUE(cfd >= 0);
    ASSERT_EQ(err, 0);
    int sfd = accept(lfd, NULL, NULL);
    ASSERT_TRUE(sfd >= 0);

    /* whole buffers both ways, larger than the socket buffers */
    size_t len = 8 << 20;
    uint8_t *src = malloc(len), *dst = malloc(len);
    for (size_t i = 0; i < len; i++)
        src[i] = bt_pattern(1, i, 0);
    pid_t pid = fork();
    if (pid == 0) {
        alarm(20);
        _exit(halo_io_write_full(cfd, src, len, halo_now_us() + 10000000) == 0 ? 0 : 1);
    }
    ASSERT_OK(halo_io_read_full(sfd, dst, len, halo_now_us() + 10000000));
    ASSERT_EQ(bt_wait(pid), 0);
    ASSERT_TRUE(memcmp(src, dst, len) == 0);

    /* read deadline: nothing arrives */
    int64_t t0 = halo_now_us();
    ASSERT_EQ(halo_io_read_full(sfd, dst, 1, t0 + 200000), -1);
    ASSERT_EQ(errno, ETIMEDOUT);
    double s = bt_seconds(t0);
    ASSERT_TRUE(s >= 0.19 && s < 1.0);

    /* EOF reads as ECONNRESET; writing to a closed peer does not raise SIGPIPE */
    close(cfd);
    ASSERT_EQ(halo_io_read_full(sfd, dst, 1, halo_now_us() + 1000000), -1);
    ASSERT_EQ(errno, ECONNRESET);
    int rc = 0;
    for (int i = 0; i < 100 && rc == 0; i++)
        rc = halo_io_write_full(sfd, src, 65536, halo_now_us() + 1000000);
    ASSERT_EQ(rc, -1);
    close(sfd);
    close(lfd);
    free(src);
    free(dst);

    /* connect retries until the deadline on ECONNREFUSED, then reports it */
    struct halo_sockaddr dead = dead_port();
    t0 = halo_now_us();
    cfd = halo_socket_connect(&dead, NULL, t0 + 300000, &err);
    s = bt_seconds(t0);
    ASSERT_EQ(cfd, -1);
    ASSERT_EQ(err, ECONNREFUSED);
    ASSERT_TRUE(s >= 0.29 && s < 1.5);
}

/* A root that starts late is found: connect retries while it is down. */
static void test_connect_late_listener(void)
{
    struct halo_sockaddr dead = dead_port();
    pid_t pid = fork();
    if (pid == 0) {
        alarm(10);
        usleep(300000);
        int l = halo_socket_listen(&dead, 1, NULL);
        if (l < 0)
            _exit(2);
        int s = accept(l, NULL, NULL);
        _exit(s >= 0 ? 0 : 3);
    }
    int err;
    int fd = halo_socket_connect(&dead, NULL, halo_now_us() + 5000000, &err);
    ASSERT_TRUE(fd >= 0);
    close(fd);
    ASSERT_EQ(bt_wait(pid), 0);
}

static void test_uid(void)
{
    haloUniqueId id, id2;
    struct halo_uid uid;
    struct sockaddr_storage ss;
    struct halo_sockaddr a = loopback(4242);
    uint8_t secret[HALO_SECRET_BYTES];
    for (int i = 0; i < HALO_SECRET_BYTES; i++)
        secret[i] = (uint8_t)(i * 7 + 1);
    halo_sockaddr_to(&a, &ss);

    ASSERT_EQ(bootstrap_uid_from_addr(&id, &ss, secret, 1, 0x1122334455667788ull), haloSuccess);
    ASSERT_EQ(bootstrap_uid_decode(&id, &uid), haloSuccess);
    ASSERT_EQ(uid.magic, HALO_UID_MAGIC);
    ASSERT_EQ(uid.version, HALO_VERSION_CODE);
    ASSERT_EQ(uid.job_id, 0x1122334455667788ull);
    ASSERT_EQ(uid.authenticated, 1);
    ASSERT_TRUE(memcmp(uid.secret, secret, sizeof(secret)) == 0);
    ASSERT_TRUE(memcmp(&uid.root, &a, sizeof(a)) == 0);

    /* unauthenticated ids carry an all-zero secret */
    ASSERT_EQ(bootstrap_uid_from_addr(&id2, &ss, secret, 0, 5), haloSuccess);
    ASSERT_EQ(bootstrap_uid_decode(&id2, &uid), haloSuccess);
    ASSERT_EQ(uid.authenticated, 0);
    for (int i = 0; i < HALO_SECRET_BYTES; i++)
        ASSERT_EQ(uid.secret[i], 0);

    /* garbage */
    memset(&id2, 0x5a, sizeof(id2));
    ASSERT_EQ(bootstrap_uid_decode(&id2, &uid), haloInvalidArgument);
    ASSERT_CONTAINS(halo_thread_last_error(), "not a haloccl id (bad magic)");
    memset(&id2, 0, sizeof(id2));
    ASSERT_EQ(bootstrap_uid_decode(&id2, &uid), haloInvalidArgument);

    /* another version */
    struct halo_uid bad;
    memcpy(&bad, id.internal, sizeof(bad));
    bad.version = HALO_VERSION_CODE + 100;
    memcpy(id2.internal, &bad, sizeof(bad));
    ASSERT_EQ(bootstrap_uid_decode(&id2, &uid), haloInvalidUsage);
    ASSERT_CONTAINS(halo_thread_last_error(), "version");

    /* damaged address */
    memcpy(&bad, id.internal, sizeof(bad));
    bad.root.family = 77;
    memcpy(id2.internal, &bad, sizeof(bad));
    ASSERT_EQ(bootstrap_uid_decode(&id2, &uid), haloInvalidArgument);

    /* a real root id: fresh secret and job id each time */
    struct halo_params p;
    struct halo_uid u1, u2;
    bt_params(&p, "2s");
    setenv("HALO_SOCKET_IFNAME", "=lo", 1);
    bt_params(&p, "2s");
    ASSERT_EQ(bootstrap_root_start(&id, &p, NULL, 1), haloSuccess);
    ASSERT_EQ(bootstrap_root_start(&id2, &p, NULL, 1), haloSuccess);
    unsetenv("HALO_SOCKET_IFNAME");
    ASSERT_EQ(bootstrap_uid_decode(&id, &u1), haloSuccess);
    ASSERT_EQ(bootstrap_uid_decode(&id2, &u2), haloSuccess);
    ASSERT_EQ(u1.authenticated, 1);
    ASSERT_NE(u1.job_id, u2.job_id);
    ASSERT_TRUE(memcmp(u1.secret, u2.secret, HALO_SECRET_BYTES) != 0);
    ASSERT_NE(u1.root.port, u2.root.port);
    ASSERT_TRUE(memcmp(u1.root.addr, a.addr, 4) == 0); /* 127.0.0.1, from HALO_SOCKET_IFNAME==lo */

    /* no interface matches */
    setenv("HALO_SOCKET_IFNAME", "=no-such-if0", 1);
    bt_params(&p, "2s");
    ASSERT_EQ(bootstrap_root_start(&id, &p, NULL, 1), haloSystemError);
    ASSERT_CONTAINS(halo_thread_last_error(), "HALO_SOCKET_IFNAME=\"=no-such-if0\"");
    unsetenv("HALO_SOCKET_IFNAME");
}

int main(void)
{
    test_ifname_match();
    test_sockaddr();
    test_if_list();
    test_listen_connect_io();
    test_connect_late_listener();
    test_uid();
    printf("bootstrap unit: ok\n");
    return 0;
}
