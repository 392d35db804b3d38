// SPDX-License-Identifier: Apache-2.0
//
// The Apache ZooKeeper Java client (Debian's 3.8 zookeeper.jar) against a
// server: create in every mode, get/set/delete with versions, multi,
// one-shot and persistent (recursive) watches, removeWatches, ACLs and
// digest auth, getEphemerals, getAllChildrenNumber, whoAmI, sync, session
// close.  Compiled by test_java.py with javac.
//
// usage: java ZkJavaClient HOST:PORT
// Prints one line per group of checks; exits 0 when all pass, 1 at the
// first failure.  Every wait is bounded (WAIT_S).

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

import org.apache.zookeeper.AddWatchMode;
import org.apache.zookeeper.CreateMode;
import org.apache.zookeeper.KeeperException;
import org.apache.zookeeper.Op;
import org.apache.zookeeper.OpResult;
import org.apache.zookeeper.WatchedEvent;
import org.apache.zookeeper.Watcher;
import org.apache.zookeeper.Watcher.Event.EventType;
import org.apache.zookeeper.ZooDefs;
import org.apache.zookeeper.ZooDefs.Ids;
import org.apache.zookeeper.ZooKeeper;
import org.apache.zookeeper.data.ACL;
import org.apache.zookeeper.data.ClientInfo;
import org.apache.zookeeper.data.Id;
import org.apache.zookeeper.data.Stat;
import org.apache.zookeeper.server.auth.DigestAuthenticationProvider;

public class ZkJavaClient {
    static final int WAIT_S = 15;
    static int checks = 0;

    static void check(boolean ok, String what) {
        if (!ok) {
            throw new AssertionError(what);
        }
        checks++;
    }

    static void eq(Object got, Object want, String what) {
        check(got == null ? want == null : got.equals(want),
              what + ": expected " + want + ", got " + got);
    }

    interface Action {
        void run() throws Exception;
    }

    static void expect(KeeperException.Code code, Action a, String what) throws Exception {
        try {
            a.run();
        } catch (KeeperException e) {
            eq(e.code(), code, what);
            return;
        }
        throw new AssertionError(what + ": expected " + code + ", no exception");
    }

    static byte[] b(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }

    /** Records events delivered to one watcher, in order. */
    static class Recorder implements Watcher {
        final LinkedBlockingQueue<WatchedEvent> q = new LinkedBlockingQueue<>();

        public void process(WatchedEvent e) {
            if (e.getType() != EventType.None) {
                q.add(e);
            }
        }

        String next() throws InterruptedException {
            WatchedEvent e = q.poll(WAIT_S, TimeUnit.SECONDS);
            if (e == null) {
                throw new AssertionError("timed out waiting for a watch event");
            }
            return e.getType() + " " + e.getPath();
        }

        void none(ZooKeeper zk) throws Exception {
            sync(zk, "/");
            check(q.isEmpty(), "unexpected event " + q.peek());
        }
    }

    static ZooKeeper connect(String hosts) throws Exception {
        CountDownLatch up = new CountDownLatch(1);
        ZooKeeper zk = new ZooKeeper(hosts, 10000, e -> {
            if (e.getState() == Watcher.Event.KeeperState.SyncConnected) {
                up.countDown();
            }
        });
        check(up.await(WAIT_S, TimeUnit.SECONDS), "connected to " + hosts);
        return zk;
    }

    static void sync(ZooKeeper zk, String path) throws Exception {
        CountDownLatch done = new CountDownLatch(1);
        int[] rc = {-999};
        zk.sync(path, (r, p, ctx) -> {
            rc[0] = r;
            done.countDown();
        }, null);
        check(done.await(WAIT_S, TimeUnit.SECONDS), "sync answered");
        eq(rc[0], 0, "sync rc");
    }

    static void basics(ZooKeeper zk) throws Exception {
        Stat st = new Stat();
        eq(zk.create("/j", b("root"), Ids.OPEN_ACL_UNSAFE, CreateMode.PERSISTENT, st), "/j", "create");
        eq(st.getVersion(), 0, "create stat version");
        eq(st.getCzxid(), st.getMzxid(), "czxid == mzxid");
        eq(zk.create("/j/s-", null, Ids.OPEN_ACL_UNSAFE, CreateMode.PERSISTENT_SEQUENTIAL),
           "/j/s-0000000000", "sequential");
        eq(zk.create("/j/e-", null, Ids.OPEN_ACL_UNSAFE, CreateMode.EPHEMERAL_SEQUENTIAL),
           "/j/e-0000000001", "ephemeral sequential");
        Stat est = zk.exists("/j/e-0000000001", false);
        eq(est.getEphemeralOwner(), zk.getSessionId(), "ephemeral owner");
        zk.create("/j/c", null, Ids.OPEN_ACL_UNSAFE, CreateMode.CONTAINER, st);
        eq(st.getEphemeralOwner(), 0L, "container owner");
        zk.create("/j/t", null, Ids.OPEN_ACL_UNSAFE, CreateMode.PERSISTENT_WITH_TTL, st, 3600000);
        eq(st.getEphemeralOwner(), 0L, "TTL owner");
        expect(KeeperException.Code.NODEEXISTS,
               () -> zk.create("/j", null, Ids.OPEN_ACL_UNSAFE, CreateMode.PERSISTENT), "create existing");
        expect(KeeperException.Code.NONODE,
               () -> zk.create("/j/x/y", null, Ids.OPEN_ACL_UNSAFE, CreateMode.PERSISTENT), "no parent");
        expect(KeeperException.Code.NOCHILDRENFOREPHEMERALS,
               () -> zk.create("/j/e-0000000001/x", null, Ids.OPEN_ACL_UNSAFE, CreateMode.PERSISTENT),
               "child of ephemeral");
        byte[] data = zk.getData("/j", false, st);
        eq(new String(data, StandardCharsets.UTF_8), "root", "getData");
        eq(st.getNumChildren(), 4, "numChildren");
        Stat st2 = zk.setData("/j", b("v1"), 0);
        eq(st2.getVersion(), 1, "setData version");
        check(st2.getMzxid() > st.getMzxid(), "mzxid grows");
        eq(st2.getCtime(), st.getCtime(), "ctime kept");
        expect(KeeperException.Code.BADVERSION, () -> zk.setData("/j", b("v2"), 0), "setData bad version");
        expect(KeeperException.Code.NOTEMPTY, () -> zk.delete("/j", -1), "delete non-empty");
        expect(KeeperException.Code.BADVERSION, () -> zk.delete("/j/s-0000000000", 3), "delete bad version");
        zk.delete("/j/s-0000000000", 0);
        eq(zk.exists("/j/s-0000000000", false), null, "deleted");
        expect(KeeperException.Code.NONODE, () -> zk.delete("/j/s-0000000000", -1), "delete again");
        List<String> kids = zk.getChildren("/j", false, st);
        Collections.sort(kids);
        eq(kids, Arrays.asList("c", "e-0000000001", "t"), "children");
        eq(st.getCversion(), 5, "cversion: 4 creates + 1 delete");
        eq(zk.getAllChildrenNumber("/j"), 3, "getAllChildrenNumber");
        eq(zk.getEphemerals("/j"), Arrays.asList("/j/e-0000000001"), "getEphemerals");
        eq(zk.getEphemerals(), Arrays.asList("/j/e-0000000001"), "getEphemerals all");
        sync(zk, "/j");
        System.out.println("ok basics");
    }

    static void multi(ZooKeeper zk) throws Exception {
        List<OpResult> res = zk.multi(Arrays.asList(
            Op.create("/jm", b("m"), Ids.OPEN_ACL_UNSAFE, CreateMode.PERSISTENT),
            Op.create("/jm/a", null, Ids.OPEN_ACL_UNSAFE, CreateMode.PERSISTENT_SEQUENTIAL),
            Op.setData("/jm", b("n"), 0),
            Op.check("/jm", 1),
            Op.delete("/jm/a0000000000", -1)));
        eq(res.size(), 5, "multi results");
        eq(((OpResult.CreateResult) res.get(1)).getPath(), "/jm/a0000000000", "multi sequential");
        eq(((OpResult.SetDataResult) res.get(2)).getStat().getVersion(), 1, "multi setData stat");
        try {
            zk.multi(Arrays.asList(
                Op.create("/jm/b", null, Ids.OPEN_ACL_UNSAFE, CreateMode.PERSISTENT),
                Op.check("/jm", 7),
                Op.delete("/jm", -1)));
            throw new AssertionError("failing multi succeeded");
        } catch (KeeperException e) {
            eq(e.code(), KeeperException.Code.BADVERSION, "multi failure code");
            List<OpResult> r = e.getResults();
            eq(((OpResult.ErrorResult) r.get(0)).getErr(), 0, "op before the failure");
            eq(((OpResult.ErrorResult) r.get(1)).getErr(), KeeperException.Code.BADVERSION.intValue(), "failing op");
            eq(((OpResult.ErrorResult) r.get(2)).getErr(),
               KeeperException.Code.RUNTIMEINCONSISTENCY.intValue(), "op after");
        }
        eq(zk.exists("/jm/b", false), null, "rolled back");
        System.out.println("ok multi");
    }

    static void watches(ZooKeeper zk, ZooKeeper other) throws Exception {
        Recorder w = new Recorder();
        other.create("/jw", null, Ids.OPEN_ACL_UNSAFE, CreateMode.PERSISTENT);
        zk.getData("/jw", w, null);
        zk.exists("/jw/a", w);
        zk.getChildren("/jw", w);
        other.create("/jw/a", null, Ids.OPEN_ACL_UNSAFE, CreateMode.PERSISTENT);
        eq(w.next(), "NodeCreated /jw/a", "first event of a create");
        eq(w.next(), "NodeChildrenChanged /jw", "second event of a create");
        other.setData("/jw", b("x"), -1);
        eq(w.next(), "NodeDataChanged /jw", "data watch");
        other.setData("/jw", b("y"), -1);
        w.none(zk);
        // persistent and persistent recursive watches
        Recorder p = new Recorder();
        Recorder r = new Recorder();
        zk.addWatch("/jw", p, AddWatchMode.PERSISTENT);
        zk.addWatch("/jw", r, AddWatchMode.PERSISTENT_RECURSIVE);
        other.setData("/jw", b("1"), -1);
        other.create("/jw/a/b", null, Ids.OPEN_ACL_UNSAFE, CreateMode.PERSISTENT);
        other.setData("/jw", b("2"), -1);
        other.delete("/jw/a/b", -1);
        eq(p.next(), "NodeDataChanged /jw", "persistent 1");
        eq(p.next(), "NodeDataChanged /jw", "persistent 2");
        eq(r.next(), "NodeDataChanged /jw", "recursive 1");
        eq(r.next(), "NodeCreated /jw/a/b", "recursive 2");
        eq(r.next(), "NodeDataChanged /jw", "recursive 3");
        eq(r.next(), "NodeDeleted /jw/a/b", "recursive 4");
        p.none(zk);
        zk.removeWatches("/jw", p, Watcher.WatcherType.Any, false);
        zk.removeWatches("/jw", r, Watcher.WatcherType.Any, false);
        eq(p.next(), "PersistentWatchRemoved /jw", "removal told to the watcher");
        eq(r.next(), "PersistentWatchRemoved /jw", "removal told to the watcher");
        expect(KeeperException.Code.NOWATCHER,
               () -> zk.removeWatches("/jw", p, Watcher.WatcherType.Any, false), "nothing left to remove");
        other.setData("/jw", b("3"), -1);
        p.none(zk);
        r.none(zk);
        System.out.println("ok watches");
    }

    static void acls(ZooKeeper zk, ZooKeeper other) throws Exception {
        expect(KeeperException.Code.INVALIDACL,
               () -> zk.create("/ja-fail", null, Ids.CREATOR_ALL_ACL, CreateMode.PERSISTENT), "creator ACL, no auth");
        zk.addAuthInfo("digest", b("dave:pw"));
        zk.create("/ja", b("s"), Ids.CREATOR_ALL_ACL, CreateMode.PERSISTENT);
        Stat st = new Stat();
        List<ACL> acl = zk.getACL("/ja", st);
        eq(acl.size(), 1, "one ACL");
        eq(acl.get(0).getId(), new Id("digest", DigestAuthenticationProvider.generateDigest("dave:pw")),
           "creator ACL id");
        expect(KeeperException.Code.NOAUTH, () -> other.getData("/ja", false, null), "read denied");
        expect(KeeperException.Code.NOAUTH, () -> other.setData("/ja", b("x"), -1), "write denied");
        List<ACL> ro = new ArrayList<>(Ids.READ_ACL_UNSAFE);
        expect(KeeperException.Code.BADVERSION, () -> zk.setACL("/ja", ro, 4), "setACL bad version");
        eq(zk.setACL("/ja", ro, 0).getAversion(), 1, "aversion");
        eq(new String(other.getData("/ja", false, null), StandardCharsets.UTF_8), "s", "read allowed now");
        expect(KeeperException.Code.NOAUTH, () -> zk.setData("/ja", b("x"), -1), "read-only ACL");
        List<ClientInfo> who = zk.whoAmI();
        boolean digest = false;
        for (ClientInfo ci : who) {
            digest |= ci.getAuthScheme().equals("digest") && ci.getUser().equals("dave");
        }
        check(digest, "whoAmI lists digest dave: " + who);
        System.out.println("ok acl, auth, whoAmI");
    }

    public static void main(String[] args) throws Exception {
        String hosts = args[0];
        ZooKeeper zk = connect(hosts);
        ZooKeeper other = connect(hosts);
        try {
            System.out.printf("connected, session 0x%x, timeout %d ms%n", zk.getSessionId(),
                              zk.getSessionTimeout());
            basics(zk);
            multi(zk);
            watches(zk, other);
            acls(zk, other);
            zk.close();
            eq(other.exists("/j/e-0000000001", false), null, "ephemeral gone after close");
            other.close();
        } catch (Throwable t) {
            System.out.println("FAIL: " + t);
            t.printStackTrace(System.out);
            System.exit(1);
        }
        System.out.println("all " + checks + " checks passed");
        System.exit(0);
    }
}
