// SPDX-License-Identifier: Apache-2.0
//
// The Apache ZooKeeper Java client (Debian's 3.8 zookeeper.jar) with SASL:
// a probe run by test_krb.py.  The JAAS "Client" section (Krb5LoginModule
// with a keytab or a ticket cache) and the krb5.conf come from -D flags
// set by the test; this program only reports what happened, one line per
// fact, and test_krb.py judges them:
//
//   STATE <KeeperState>            every connection state event, in order
//   AUTH ok|failed|none            SaslAuthenticated, AuthFailed, neither
//   WHOAMI <scheme> <id>           each identity whoAmI reports
//   CREATE <path> <code>           create with CREATOR_ALL_ACL (auth ids)
//   ACL <path> <scheme> <id> <perms>
//   GET <path> <code>              getData
//   SET <path> <code>              setData
//
// usage: java ZkKrbClient HOST:PORT OWN_PATH|- OTHER_PATH|-
// Exits 0 after the report, 2 on an unexpected exception.  Every wait is
// bounded (WAIT_S).

import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

import org.apache.zookeeper.CreateMode;
import org.apache.zookeeper.KeeperException;
import org.apache.zookeeper.Watcher.Event.KeeperState;
import org.apache.zookeeper.ZooDefs.Ids;
import org.apache.zookeeper.ZooKeeper;
import org.apache.zookeeper.data.ACL;
import org.apache.zookeeper.data.ClientInfo;
import org.apache.zookeeper.data.Stat;

public class ZkKrbClient {
    static final int WAIT_S = 20;

    interface Action {
        void run() throws Exception;
    }

    static String code(Action a) throws Exception {
        try {
            a.run();
            return "OK";
        } catch (KeeperException e) {
            return e.code().name();
        }
    }

    public static void main(String[] args) throws Exception {
        String hosts = args[0], own = args[1], other = args[2];
        CountDownLatch settled = new CountDownLatch(1);
        final String[] auth = {"none"};
        ZooKeeper zk = new ZooKeeper(hosts, 10000, ev -> {
            if (ev.getType() != org.apache.zookeeper.Watcher.Event.EventType.None) {
                return;
            }
            KeeperState s = ev.getState();
            System.out.println("STATE " + s);
            System.out.flush();
            if (s == KeeperState.SaslAuthenticated) {
                auth[0] = "ok";
                settled.countDown();
            } else if (s == KeeperState.AuthFailed) {
                auth[0] = "failed";
                settled.countDown();
            }
        });
        int rc = 0;
        try {
            settled.await(WAIT_S, TimeUnit.SECONDS);
            System.out.println("AUTH " + auth[0]);
            // After a failure on the client side (no ticket) the client
            // goes on without SASL: wait for the session so that the
            // requests below are answered by the server, not refused
            // for want of a connection.
            long deadline = System.nanoTime() + WAIT_S * 1000000000L;
            while (!zk.getState().isConnected() && zk.getState().isAlive()
                   && System.nanoTime() < deadline) {
                Thread.sleep(20);
            }
            try {
                List<ClientInfo> who = zk.whoAmI();
                for (ClientInfo ci : who) {
                    System.out.println("WHOAMI " + ci.getAuthScheme() + " " + ci.getUser());
                }
            } catch (Exception e) {
                // 3.8's whoAmI declares no KeeperException
                System.out.println("WHOAMI_ERR " + e.getClass().getSimpleName());
            }
            if (!own.equals("-")) {
                System.out.println("CREATE " + own + " " + code(() -> zk.create(
                    own, "mine".getBytes(StandardCharsets.UTF_8), Ids.CREATOR_ALL_ACL,
                    CreateMode.PERSISTENT)));
                try {
                    for (ACL a : zk.getACL(own, new Stat())) {
                        System.out.println("ACL " + own + " " + a.getId().getScheme() + " "
                                           + a.getId().getId() + " " + a.getPerms());
                    }
                } catch (KeeperException e) {
                    System.out.println("ACL " + own + " " + e.code().name());
                }
                System.out.println("GET " + own + " " + code(() -> zk.getData(own, false, null)));
                System.out.println("SET " + own + " " + code(() -> zk.setData(
                    own, "again".getBytes(StandardCharsets.UTF_8), -1)));
            }
            if (!other.equals("-")) {
                System.out.println("GET " + other + " " + code(() -> zk.getData(other, false, null)));
                System.out.println("SET " + other + " " + code(() -> zk.setData(
                    other, "theirs".getBytes(StandardCharsets.UTF_8), -1)));
            }
        } catch (Exception e) {
            e.printStackTrace();
            rc = 2;
        } finally {
            zk.close(5000);
        }
        System.out.flush();
        System.exit(rc);
    }
}
