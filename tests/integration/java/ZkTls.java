// SPDX-License-Identifier: Apache-2.0
//
// The Apache ZooKeeper Java client (Debian's 3.8 zookeeper.jar) over TLS:
// run by test_tls.py with -Dzookeeper.client.secure=true,
// -Dzookeeper.clientCnxnSocket=org.apache.zookeeper.ClientCnxnSocketNetty
// and the zookeeper.ssl.* key and trust stores.  Connects, creates and
// reads a znode, and prints whoAmI's identities one per line as
// "whoami SCHEME USER".  With "dn FILE" instead prints the subject of the
// PEM certificate in FILE as X500Principal.getName() writes it.
//
// usage: java ZkTls HOST:PORT PATH | java ZkTls dn FILE
// Exits 0 when everything worked, 1 otherwise.  Every wait is bounded.

import java.io.FileInputStream;
import java.nio.charset.StandardCharsets;
import java.security.cert.CertificateFactory;
import java.security.cert.X509Certificate;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

import org.apache.zookeeper.CreateMode;
import org.apache.zookeeper.Watcher;
import org.apache.zookeeper.ZooDefs.Ids;
import org.apache.zookeeper.ZooKeeper;
import org.apache.zookeeper.data.ClientInfo;

public class ZkTls {
    public static void main(String[] args) throws Exception {
        if (args.length == 2 && args[0].equals("dn")) {
            try (FileInputStream in = new FileInputStream(args[1])) {
                X509Certificate c = (X509Certificate) CertificateFactory.getInstance("X.509")
                        .generateCertificate(in);
                System.out.println(c.getSubjectX500Principal().getName());
            }
            return;
        }
        CountDownLatch up = new CountDownLatch(1);
        ZooKeeper zk = new ZooKeeper(args[0], 10000, e -> {
            if (e.getState() == Watcher.Event.KeeperState.SyncConnected)
                up.countDown();
        });
        try {
            if (!up.await(20, TimeUnit.SECONDS)) {
                System.out.println("not connected within 20 s");
                System.exit(1);
            }
            byte[] v = "over tls".getBytes(StandardCharsets.UTF_8);
            zk.create(args[1], v, Ids.OPEN_ACL_UNSAFE, CreateMode.PERSISTENT);
            String got = new String(zk.getData(args[1], false, null), StandardCharsets.UTF_8);
            if (!got.equals("over tls")) {
                System.out.println("read back " + got);
                System.exit(1);
            }
            System.out.println("created and read " + args[1]);
            List<ClientInfo> who = zk.whoAmI();
            for (ClientInfo ci : who)
                System.out.println("whoami " + ci.getAuthScheme() + " " + ci.getUser());
        } finally {
            zk.close();
        }
    }
}
