// SPDX-License-Identifier: Apache-2.0
//
// Drives a ZooKeeper server through zkproxy.py with the Java client
// (Debian's libzookeeper-java).  Developer tool for capture.sh; not run in
// CI.  Compiled and run by capture.sh:
//   javac -cp /usr/share/java/zookeeper.jar DriveJava.java
//   java -cp ... DriveJava HOST:PORT CONTROL_PORT [sasl]
//
// Covers every client operation of the 3.8 Java API, the extended create
// modes (container, TTL; the server runs with
// -Dzookeeper.extendedTypesEnabled=true), watches of every kind, and
// SetWatches/SetWatches2 by asking the proxy to drop the connection so
// the client reconnects and re-registers its watches.
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

import org.apache.zookeeper.AddWatchMode;
import org.apache.zookeeper.CreateMode;
import org.apache.zookeeper.KeeperException;
import org.apache.zookeeper.Op;
import org.apache.zookeeper.WatchedEvent;
import org.apache.zookeeper.Watcher;
import org.apache.zookeeper.ZooDefs;
import org.apache.zookeeper.ZooKeeper;
import org.apache.zookeeper.admin.ZooKeeperAdmin;
import org.apache.zookeeper.data.ACL;
import org.apache.zookeeper.data.Id;
import org.apache.zookeeper.data.Stat;
import org.apache.zookeeper.server.auth.DigestAuthenticationProvider;

public class DriveJava {
	static final LinkedBlockingQueue<WatchedEvent> events = new LinkedBlockingQueue<>();
	static CountDownLatch connected = new CountDownLatch(1);

	static void ctl(int port, String cmd) throws Exception {
		try (Socket s = new Socket("127.0.0.1", port)) {
			OutputStream o = s.getOutputStream();
			o.write((cmd + "\n").getBytes(StandardCharsets.UTF_8));
			o.flush();
			new BufferedReader(new InputStreamReader(s.getInputStream())).readLine();
		}
	}

	static WatchedEvent event(String what) throws Exception {
		WatchedEvent e = events.poll(10, TimeUnit.SECONDS);
		if (e == null)
			throw new RuntimeException("no event: " + what);
		return e;
	}

	static void expect(KeeperException.Code code, Runnable r) {
		try {
			r.run();
		} catch (RuntimeException e) {
			if (!(e.getCause() instanceof KeeperException))
				throw e;
			KeeperException.Code got = ((KeeperException) e.getCause()).code();
			if (got != code)
				System.err.println("DriveJava: expected " + code + ", got " + got);
		}
	}

	interface ZkCall {
		void run() throws Exception;
	}

	static Runnable wrap(ZkCall c) {
		return () -> {
			try {
				c.run();
			} catch (RuntimeException e) {
				throw e;
			} catch (Exception e) {
				throw new RuntimeException(e);
			}
		};
	}

	static void reconnect(int ctlPort) throws Exception {
		connected = new CountDownLatch(1);
		ctl(ctlPort, "drop");
		if (!connected.await(20, TimeUnit.SECONDS))
			throw new RuntimeException("no reconnect");
		Thread.sleep(300);
	}

	public static void main(String[] args) throws Exception {
		String hosts = args[0];
		int ctlPort = Integer.parseInt(args[1]);
		boolean sasl = args.length > 2 && args[2].equals("sasl");
		Watcher def = e -> {
			if (e.getType() == Watcher.Event.EventType.None) {
				if (e.getState() == Watcher.Event.KeeperState.SyncConnected)
					connected.countDown();
				return;
			}
			events.add(e);
		};
		ZooKeeper zk = new ZooKeeper(hosts, 6000, def);
		if (!connected.await(20, TimeUnit.SECONDS))
			throw new RuntimeException("no connect");
		if (sasl) {
			// The SASL exchange (opcode 102) happens right after connect.
			Thread.sleep(1500);
			zk.exists("/", false);
			zk.whoAmI();
			zk.close();
			return;
		}
		List<ACL> open = ZooDefs.Ids.OPEN_ACL_UNSAFE;
		Stat st = new Stat();

		zk.create("/java", "root".getBytes(), open, CreateMode.PERSISTENT);
		zk.create("/java/p", "p".getBytes(), open, CreateMode.PERSISTENT, st); // create2
		zk.create("/java/e", new byte[0], open, CreateMode.EPHEMERAL);
		zk.create("/java/s-", null, open, CreateMode.PERSISTENT_SEQUENTIAL);
		zk.create("/java/es-", "x".getBytes(), open, CreateMode.EPHEMERAL_SEQUENTIAL);
		zk.create("/java/cont", "c".getBytes(), open, CreateMode.CONTAINER);
		zk.create("/java/cont/kid", "k".getBytes(), open, CreateMode.PERSISTENT);
		zk.create("/java/ttl", "t".getBytes(), open, CreateMode.PERSISTENT_WITH_TTL, st, 60000);
		zk.create("/java/ttls-", "t".getBytes(), open, CreateMode.PERSISTENT_SEQUENTIAL_WITH_TTL, st, 30000);
		expect(KeeperException.Code.NODEEXISTS,
		       wrap(() -> zk.create("/java/p", null, open, CreateMode.PERSISTENT)));

		// Reads, one-shot watches and their events.
		zk.getData("/java/p", true, st);
		zk.setData("/java/p", "p2".getBytes(), -1);
		event("data changed");
		expect(KeeperException.Code.BADVERSION, wrap(() -> zk.setData("/java/p", null, 77)));
		zk.exists("/java/later", true);
		zk.create("/java/later", null, open, CreateMode.PERSISTENT);
		event("created");
		zk.exists("/java/p", false);
		zk.exists("/java/nope", false);
		zk.getChildren("/java", true);
		zk.create("/java/kid", null, open, CreateMode.PERSISTENT);
		event("children changed");
		zk.getChildren("/java", false, st); // getChildren2
		expect(KeeperException.Code.NONODE, wrap(() -> zk.getData("/java/nope", false, null)));
		zk.getAllChildrenNumber("/java");
		zk.getEphemerals("/java");
		zk.getEphemerals();

		// ACLs and digest auth.
		zk.addAuthInfo("digest", "bob:pw".getBytes());
		Id bob = new Id("digest", DigestAuthenticationProvider.generateDigest("bob:pw"));
		List<ACL> bobAcl = Arrays.asList(new ACL(ZooDefs.Perms.ALL, bob));
		zk.create("/java/secure", "s".getBytes(), bobAcl, CreateMode.PERSISTENT);
		zk.getACL("/java/secure", st);
		List<ACL> both = new ArrayList<>(bobAcl);
		both.add(new ACL(ZooDefs.Perms.READ, new Id("world", "anyone")));
		zk.setACL("/java/secure", both, -1);
		zk.whoAmI();

		// multi: success and failure; multiRead.
		zk.multi(Arrays.asList(
			Op.create("/java/m1", "1".getBytes(), open, CreateMode.PERSISTENT),
			Op.create("/java/m2", "2".getBytes(), open, CreateMode.PERSISTENT_SEQUENTIAL),
			Op.setData("/java/p", "m".getBytes(), -1),
			Op.check("/java/p", -1),
			Op.delete("/java/kid", -1)));
		expect(KeeperException.Code.BADVERSION, wrap(() -> zk.multi(Arrays.asList(
			Op.create("/java/m3", null, open, CreateMode.PERSISTENT),
			Op.check("/java/p", 1234),
			Op.delete("/java/m1", -1)))));
		zk.multi(Arrays.asList(
			Op.getChildren("/java"),
			Op.getData("/java/p"),
			Op.getData("/java/nope")));

		// sync is asynchronous only in the Java API.
		CountDownLatch synced = new CountDownLatch(1);
		zk.sync("/java", (rc, path, ctx) -> synced.countDown(), null);
		synced.await(10, TimeUnit.SECONDS);

		// SetWatches on reconnect: data, exist and child watches.
		zk.getData("/java/p", true, null);
		zk.exists("/java/ghost", true);
		zk.getChildren("/java/cont", true);
		reconnect(ctlPort);
		zk.setData("/java/p", "after".getBytes(), -1);
		event("data changed after reconnect");

		// Persistent watches: addWatch, SetWatches2 on reconnect, events.
		zk.addWatch("/java/p", AddWatchMode.PERSISTENT);
		zk.addWatch("/java", AddWatchMode.PERSISTENT_RECURSIVE);
		reconnect(ctlPort);
		zk.setData("/java/p", "pw".getBytes(), -1);
		event("persistent"); // one event: both watches use the default watcher
		zk.create("/java/cont/kid2", null, open, CreateMode.PERSISTENT);
		event("persistent recursive");

		// removeWatches: checkWatches (opcode 17) for a specific watcher,
		// removeWatches (18) for all of a type.
		Watcher w = e -> events.add(e);
		zk.getData("/java/m1", w, null);
		zk.removeWatches("/java/m1", w, Watcher.WatcherType.Data, false);
		event("data watch removed");
		zk.removeAllWatches("/java/p", Watcher.WatcherType.Any, false);
		expect(KeeperException.Code.NOWATCHER,
		       wrap(() -> zk.removeAllWatches("/java/m1", Watcher.WatcherType.Children, false)));

		// Deletes: NodeDeleted event, NOTEMPTY.
		zk.exists("/java/later", true);
		zk.delete("/java/later", -1);
		event("deleted");
		expect(KeeperException.Code.NOTEMPTY, wrap(() -> zk.delete("/java", -1)));

		// reconfig and getConfig through the admin API (standalone: error).
		ZooKeeperAdmin admin = new ZooKeeperAdmin(hosts, 6000, e -> { });
		Thread.sleep(1000);
		admin.getConfig(false, st);
		try {
			admin.reconfigure("server.9=127.0.0.1:2888:3888;2181", null, null, -1, st);
		} catch (KeeperException e) {
			// expected in standalone mode
		}
		admin.close();

		// Idle for pings (the client pings after readTimeout/2 of silence).
		Thread.sleep(3000);
		zk.close();
	}
}
