// SPDX-License-Identifier: Apache-2.0
//
// A load client on the ZooKeeper Java client that records its history for
// lincheck.py, beside kazoo and zkc_history in test_ensemble_faults.py (same
// operations, same output format; see zkc_history.c):
//
//   java ZkHistory HOSTS ROOT NKEYS SECONDS SEED ID
//   op KIND KEY CALL RET OUTCOME DATA EXPECT VERSION MZXID
//   durable PATH
//   session 0xID
//
// Times are System.nanoTime() in seconds: HotSpot reads CLOCK_MONOTONIC,
// the clock of Python's time.monotonic().  Runs until SIGTERM (a shutdown
// hook lets the operation under way finish and be printed) or SECONDS.
// A write whose reply was lost is 'unknown'; a read without reply is left
// out.  Every wait is bounded.

import java.util.Random;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.apache.zookeeper.AsyncCallback;
import org.apache.zookeeper.CreateMode;
import org.apache.zookeeper.KeeperException;
import org.apache.zookeeper.WatchedEvent;
import org.apache.zookeeper.Watcher;
import org.apache.zookeeper.ZooDefs;
import org.apache.zookeeper.ZooKeeper;
import org.apache.zookeeper.data.Stat;

public class ZkHistory {
    static final int WAIT_MS = 30000;
    static final int SESSION_MS = 15000;
    static final Object lock = new Object();
    static volatile boolean connected;
    static volatile boolean expired;
    static volatile boolean stopping;

    static double now() {
        return System.nanoTime() / 1e9;
    }

    static ZooKeeper open(String hosts) throws Exception {
        synchronized (lock) {
            connected = false;
            expired = false;
        }
        ZooKeeper zk = new ZooKeeper(hosts, SESSION_MS, (WatchedEvent e) -> {
            if (e.getType() != Watcher.Event.EventType.None)
                return;
            synchronized (lock) {
                connected = e.getState() == Watcher.Event.KeeperState.SyncConnected;
                if (e.getState() == Watcher.Event.KeeperState.Expired)
                    expired = true;
                lock.notifyAll();
            }
        });
        if (!waitConnected()) {
            zk.close();
            return null;
        }
        System.out.printf("session 0x%x%n", zk.getSessionId());
        System.out.flush();
        return zk;
    }

    static boolean waitConnected() throws InterruptedException {
        long end = System.nanoTime() + WAIT_MS * 1000000L;
        synchronized (lock) {
            while (!connected && !expired && !stopping) {
                long left = (end - System.nanoTime()) / 1000000L;
                if (left <= 0)
                    break;
                lock.wait(Math.min(left, 200));
            }
            return connected;
        }
    }

    static String outcome(Exception e) {
        if (e == null)
            return "ok";
        if (e instanceof KeeperException.NoNodeException)
            return "nonode";
        if (e instanceof KeeperException.NodeExistsException)
            return "nodeexists";
        if (e instanceof KeeperException.BadVersionException)
            return "badversion";
        return "unknown";
    }

    static void emit(String kind, String key, double call, double ret, Exception e, String data,
                     int expect, long version, long mzxid) {
        String out = outcome(e);
        if (out.equals("unknown"))
            System.out.printf("op %s %s %.9f - unknown %s %d -1 -1%n", kind, key, call,
                              data == null ? "-" : data, expect);
        else
            System.out.printf("op %s %s %.9f %.9f %s %s %d %d %d%n", kind, key, call, ret, out,
                              data == null || data.isEmpty() ? "-" : data, expect, version,
                              mzxid);
        System.out.flush();
    }

    static void sync(ZooKeeper zk, String path) throws Exception {
        CountDownLatch done = new CountDownLatch(1);
        AtomicInteger rc = new AtomicInteger(-1);
        zk.sync(path, (AsyncCallback.VoidCallback) (r, p, ctx) -> {
            rc.set(r);
            done.countDown();
        }, null);
        if (!done.await(WAIT_MS, TimeUnit.MILLISECONDS))
            throw KeeperException.create(KeeperException.Code.OPERATIONTIMEOUT);
        if (rc.get() != 0)
            throw KeeperException.create(KeeperException.Code.get(rc.get()), path);
    }

    public static void main(String[] args) throws Exception {
        if (args.length != 6) {
            System.err.println("usage: ZkHistory HOSTS ROOT NKEYS SECONDS SEED ID");
            System.exit(2);
        }
        String hosts = args[0], root = args[1];
        int nkeys = Integer.parseInt(args[2]);
        double end = now() + Double.parseDouble(args[3]);
        Random rng = new Random(Long.parseLong(args[4]));
        int id = Integer.parseInt(args[5]);
        if (nkeys < 1 || nkeys > 64) {
            System.err.println("ZkHistory: NKEYS must be 1..64");
            System.exit(2);
        }
        int[] versions = new int[nkeys];
        Thread main = Thread.currentThread();
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            stopping = true;
            try {
                main.join(WAIT_MS * 2L);
            } catch (InterruptedException e) {
                // exit anyway
            }
        }));
        ZooKeeper zk = open(hosts);
        if (zk == null) {
            System.err.println("ZkHistory: no session with " + hosts);
            System.exit(2);
        }
        long seq = 0;
        while (!stopping && now() < end) {
            if (expired) {
                zk.close();
                zk = open(hosts);
                if (zk == null) {
                    System.err.println("ZkHistory: no new session");
                    System.exit(2);
                }
                continue;
            }
            if (!waitConnected())
                continue;
            int k = rng.nextInt(nkeys);
            double r = rng.nextDouble();
            String key = root + "/k" + k;
            String data = "J" + id + "-" + (++seq);
            byte[] bytes = data.getBytes("US-ASCII");
            Stat st = new Stat();
            Exception err = null;
            double call = now();
            if (r < 0.12) {
                try {
                    zk.create(key, bytes, ZooDefs.Ids.OPEN_ACL_UNSAFE, CreateMode.PERSISTENT, st);
                    versions[k] = 0;
                } catch (KeeperException | InterruptedException e) {
                    err = e;
                }
                emit("create", key, call, now(), err, data, -1, err == null ? 0 : -1,
                     err == null ? st.getMzxid() : -1);
            } else if (r < 0.55) {
                int expect = r < 0.35 ? -1 : versions[k];
                try {
                    st = zk.setData(key, bytes, expect);
                    versions[k] = st.getVersion();
                } catch (KeeperException | InterruptedException e) {
                    err = e;
                }
                emit("set", key, call, now(), err, data, expect,
                     err == null ? st.getVersion() : -1, err == null ? st.getMzxid() : -1);
            } else if (r < 0.60) {
                try {
                    zk.delete(key, -1);
                } catch (KeeperException | InterruptedException e) {
                    err = e;
                }
                emit("delete", key, call, now(), err, null, -1, -1, -1);
            } else if (r < 0.92) {
                boolean linear = r < 0.80;
                String kind = linear ? "read" : "plainread";
                byte[] got = null;
                try {
                    if (linear)
                        sync(zk, key);
                    got = zk.getData(key, false, st);
                } catch (Exception e) {
                    err = e;
                }
                double ret = now();
                if (err == null) {
                    versions[k] = st.getVersion();
                    emit(kind, key, call, ret, null, new String(got, "US-ASCII"), -1,
                         st.getVersion(), st.getMzxid());
                } else if (err instanceof KeeperException.NoNodeException) {
                    emit(kind, key, call, ret, err, null, -1, -1, -1);
                }
            } else {
                String path = root + "/d/J" + id + "-" + seq;
                try {
                    zk.create(path, "durable".getBytes("US-ASCII"), ZooDefs.Ids.OPEN_ACL_UNSAFE,
                              CreateMode.PERSISTENT);
                    System.out.println("durable " + path);
                    System.out.flush();
                } catch (KeeperException | InterruptedException e) {
                    // not acknowledged: nothing to check
                }
            }
        }
        zk.close();
    }
}
