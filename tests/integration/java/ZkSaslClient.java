// SPDX-License-Identifier: Apache-2.0
//
// The Java client's SASL (DIGEST-MD5, the JAAS "Client" section given with
// -Djava.security.auth.login.config) against one server, for test_sasl.py.
//   ZkSaslClient HOSTS ok          authenticate, whoAmI, a sasl ACL'd node
//   ZkSaslClient HOSTS authfailed  expect the AuthFailed event
// Prints what it saw; exits nonzero on anything unexpected.
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

import org.apache.zookeeper.CreateMode;
import org.apache.zookeeper.WatchedEvent;
import org.apache.zookeeper.Watcher;
import org.apache.zookeeper.ZooKeeper;
import org.apache.zookeeper.data.ACL;
import org.apache.zookeeper.data.ClientInfo;
import org.apache.zookeeper.data.Id;

public class ZkSaslClient {
    public static void main(String[] args) throws Exception {
        String hosts = args[0];
        boolean wantOk = args[1].equals("ok");
        CountDownLatch authed = new CountDownLatch(1);
        CountDownLatch failed = new CountDownLatch(1);
        ZooKeeper zk = new ZooKeeper(hosts, 10000, (WatchedEvent e) -> {
            System.out.println("event " + e.getState());
            if (e.getState() == Watcher.Event.KeeperState.SaslAuthenticated)
                authed.countDown();
            if (e.getState() == Watcher.Event.KeeperState.AuthFailed)
                failed.countDown();
        });
        try {
            if (!wantOk) {
                if (!failed.await(60, TimeUnit.SECONDS))
                    throw new AssertionError("no AuthFailed event");
                System.out.println("AuthFailed seen");
                return;
            }
            if (!authed.await(60, TimeUnit.SECONDS))
                throw new AssertionError("no SaslAuthenticated event");
            List<ClientInfo> who = zk.whoAmI();
            for (ClientInfo ci : who)
                System.out.println("whoAmI " + ci.getAuthScheme() + ":" + ci.getUser());
            List<ACL> acl = new java.util.ArrayList<>();
            acl.add(new ACL(31, new Id("sasl", "bob")));
            zk.create("/j", "ok".getBytes(), acl, CreateMode.PERSISTENT);
            String got = new String(zk.getData("/j", false, null));
            System.out.println("read /j " + got);
            List<ACL> back = zk.getACL("/j", null);
            System.out.println("acl " + back);
        } finally {
            zk.close();
        }
    }
}
