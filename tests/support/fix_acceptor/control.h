// The CONTROL channel: a line-based TCP server on 127.0.0.1 through which tests steer the
// broker (one command per line, one reply line "ok ..." or "error <why>").
#ifndef TRADELOOP_FIX_ACCEPTOR_CONTROL_H
#define TRADELOOP_FIX_ACCEPTOR_CONTROL_H

#include <atomic>
#include <string>
#include <thread>

#include "broker.h"
#include "quickfix/Acceptor.h"

void logEvent( const std::string& text );

class ControlServer
{
public:
  ControlServer( int port, Broker& broker, Outbox& outbox, FIX::Acceptor& acceptor,
                 std::atomic<bool>& quitRequested );
  ~ControlServer();
  // Binds and listens (throws std::runtime_error when it cannot), then serves in a thread.
  void start();
  void stop();
  // Answers one command line (also used directly by tests of the protocol).
  std::string handle( const std::string& line );

private:
  void acceptLoop();
  void serve( int fd );
  std::string disconnectAll();
  std::string listSessions();

  int m_port;
  int m_listenFd = -1;
  Broker& m_broker;
  Outbox& m_outbox;
  FIX::Acceptor& m_acceptor;
  std::atomic<bool>& m_quitRequested;
  std::atomic<bool> m_stopping;
  std::thread m_thread;
};

#endif
