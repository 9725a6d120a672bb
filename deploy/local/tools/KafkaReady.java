import java.util.Properties;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;

/**
 * Readiness probe for the local Kafka broker: a real metadata round trip
 * (describeCluster + listTopics). Exit 0 when the broker answers, 1 otherwise.
 * Usage: java -cp 'kafka-lib/*:classes' KafkaReady 127.0.0.1:9092 [timeoutMs]
 */
public class KafkaReady {
    public static void main(String[] args) {
        String bootstrap = args.length > 0 ? args[0] : "127.0.0.1:9092";
        int timeoutMs = args.length > 1 ? Integer.parseInt(args[1]) : 5000;
        Properties p = new Properties();
        p.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        p.put(AdminClientConfig.REQUEST_TIMEOUT_MS_CONFIG, timeoutMs);
        p.put(AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, timeoutMs);
        p.put(AdminClientConfig.RECONNECT_BACKOFF_MAX_MS_CONFIG, 500);
        p.put(AdminClientConfig.CLIENT_ID_CONFIG, "warden-stack-probe");
        try (Admin admin = Admin.create(p)) {
            int nodes = admin.describeCluster().nodes().get(timeoutMs, TimeUnit.MILLISECONDS).size();
            Set<String> topics = admin.listTopics().names().get(timeoutMs, TimeUnit.MILLISECONDS);
            System.out.println("kafka ok: " + nodes + " broker(s), " + topics.size() + " topic(s)");
            System.exit(0);
        } catch (Exception e) {
            System.out.println("kafka not ready: " + e);
            System.exit(1);
        }
    }
}
