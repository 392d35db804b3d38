// SPDX-License-Identifier: Apache-2.0
//
// The oracle for test_props_java.sh: loads each file with
// java.util.Properties, trims keys and values as ZooKeeper's
// QuorumPeerConfig does, and prints them sorted, one "[key]=[value]" per
// line, bytes outside printable ASCII as \xNN.  "COLLIDE" marks a file
// where two different keys trim to the same one (ZooKeeper's order is a
// hash order then); "ERR" one that Properties.load() refuses.
import java.io.FileInputStream;
import java.util.Map;
import java.util.Properties;
import java.util.TreeMap;

public class PropsDump {
	public static void main(String[] args) throws Exception {
		StringBuilder out = new StringBuilder();
		for (String f : args) {
			out.append("== ").append(f).append('\n');
			Properties p = new Properties();
			try (FileInputStream in = new FileInputStream(f)) {
				p.load(in);
			} catch (IllegalArgumentException e) {
				out.append("ERR\n");
				continue;
			}
			TreeMap<String, String> m = new TreeMap<>();
			boolean collide = false;
			for (Map.Entry<Object, Object> e : p.entrySet()) {
				String k = e.getKey().toString().trim();
				collide |= m.containsKey(k);
				m.put(k, e.getValue().toString().trim());
			}
			if (collide) {
				out.append("COLLIDE\n");
				continue;
			}
			for (Map.Entry<String, String> e : m.entrySet())
				out.append('[').append(esc(e.getKey())).append("]=[")
						.append(esc(e.getValue())).append("]\n");
		}
		System.out.print(out);
	}

	private static String esc(String s) {
		StringBuilder b = new StringBuilder();
		for (char c : s.toCharArray()) {
			if (c < 0x20 || c > 0x7e)
				b.append(String.format("\\x%02x", (int)c));
			else
				b.append(c);
		}
		return b.toString();
	}
}
